// The NVIDIA GPU sensor: one channel per GPU through NVML, loaded at run time. A GPU with the
// energy counter (Volta and newer) gives exact energy; an older one only its power, which the
// meter samples and integrates.
#pragma once

#include <string>
#include <vector>

#include <jobcarbon/sensors/nvml_api.hpp>
#include <jobcarbon/sensors/sensor.hpp>

namespace jobcarbon::sensors {

// One GPU as NVML reports it, for GPU selection (CUDA_VISIBLE_DEVICES) and reports.
struct GpuInfo {
  int nvml_index = 0;               // NVML's (and nvidia-smi's) index; not always CUDA's
  std::string uuid;                 // "GPU-6d0e5a3c-..."
  std::string name;                 // "NVIDIA H100 80GB HBM3"
  std::string pci_bus_id;           // "00000000:17:00.0"; empty when NVML could not say
  bool has_energy_counter = false;  // nvmlDeviceGetTotalEnergyConsumption works on it
};

// The sensor with the list of GPUs behind it.
struct NvmlProbe {
  Probe probe;
  // Every GPU this process can open, in NVML index order, including one whose energy and power
  // cannot be read (it has no channel then, and a note says why). GPUs NVML counts but will
  // not open (no permission: outside the job's device cgroup) are left out, as CUDA leaves
  // them out of its own enumeration.
  std::vector<GpuInfo> gpus;
};

// Return the NVML sensor from the library at library_path (kDefaultNvmlLibrary in
// production) with the GPU list. Channel per GPU: id "nvml:<UUID>", label "<name> (GPU <nvml
// index>)", Domain::kGpu, device = UUID; kEnergyCounter in µJ where the GPU has the energy
// counter, else kPower in µW with a note. Unavailable, with the reason, when there is no
// driver, nvmlInit fails, NVML finds no GPU ("NVML found no GPU"), or no GPU can be read.
// Never throws for a missing or broken library.
NvmlProbe probe_nvml_with_gpus(const std::string& library_path);

// Return probe_nvml_with_gpus(library_path).probe: the form every sensor factory has.
Probe probe_nvml(const std::string& library_path);

}  // namespace jobcarbon::sensors
