// Which GPUs a job may use, from the CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER the job runs
// with, following CUDA's documented rules, so the job is charged exactly the GPUs CUDA shows it.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include <jobcarbon/sensors/nvml_sensor.hpp>

namespace jobcarbon::sensors {

struct GpuSelection {
  // The UUIDs of the GPUs the job may use, in the job's CUDA order (its device 0 first), each
  // once.
  std::vector<std::string> uuids;
  // Remarks for the report: an entry CUDA ignores, an index whose mapping is uncertain.
  std::vector<std::string> warnings;
};

// Return the GPUs, out of gpus (the machine's, as probe_nvml_with_gpus lists them), that a CUDA
// program started with these two variables may use (nullopt: the variable is unset):
// - CUDA_VISIBLE_DEVICES unset: all GPUs. Empty: none.
// - Otherwise a comma-separated list, read in order. An entry is a CUDA index (a decimal number
//   in CUDA's order, see below), a GPU UUID ("GPU-8932f937-...") or a prefix of one that names
//   exactly one GPU. At the first entry that is neither (a bad index such as -1, an unknown or
//   ambiguous UUID prefix, an empty entry) CUDA stops: that entry and all after it are ignored,
//   with a warning. A repeated GPU is kept once, with a warning.
// - CUDA's order for indices: CUDA_DEVICE_ORDER=PCI_BUS_ID is ascending PCI bus id.
//   FASTEST_FIRST (the default; also assumed, with a warning, for any other value) ranks GPUs
//   by a speed heuristic CUDA does not publish; between GPUs of one model it is PCI bus order.
//   So jobcarbon uses PCI bus order in both cases, and warns when an index was used on a
//   machine with more than one GPU model, since the mapping may then be wrong.
// Return an error for a MIG instance ("MIG-..."): NVML measures energy per physical GPU, and a
// MIG slice cannot be charged its own part of it.
std::expected<GpuSelection, std::string> select_gpus(
    const std::vector<GpuInfo>& gpus, const std::optional<std::string>& cuda_visible_devices,
    const std::optional<std::string>& cuda_device_order);

// Return the model name of the first GPU of `gpus` whose UUID is in `uuids` ("" when none is):
// what a record calls the GPUs a job used.
std::string model_of(const std::vector<GpuInfo>& gpus, const std::vector<std::string>& uuids);

}  // namespace jobcarbon::sensors
