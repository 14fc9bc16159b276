// The benchmarks' fixture machine: two Intel sockets with DRAM (RAPL), eight GPUs (the fake NVML),
// and an IBM POWER9 OCC hwmon chip with a node meter — copied into a private temporary directory
// so that nothing of the benchmark machine's own hardware leaks into the numbers. Also the list
// of the bare reads behind every channel, the floor that the meter's cost is compared against.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <jobcarbon/sensors/nvml_api.hpp>
#include <jobcarbon/sensors/registry.hpp>
#include <jobcarbon/sensors/sensor.hpp>

namespace jobcarbon::bench {

// A private copy of the fixture trees; the directory is removed by the destructor.
class FixtureMachine {
 public:
  // Copy tests/fixtures/sysfs/{intel-2socket-dram,power9-ibmpowernv} of source_dir (symlinks
  // kept) under $TMPDIR (or /tmp) and point FAKE_NVML_SCENARIO at bench/fixtures/nvml-8gpu.scenario
  // in this process, so that the fake NVML of binary_dir finds eight GPUs. Throws
  // std::runtime_error when a fixture or the fake library is missing: a benchmark of the wrong
  // machine must not run.
  FixtureMachine(const std::filesystem::path& source_dir, const std::filesystem::path& binary_dir);
  FixtureMachine(const FixtureMachine&) = delete;
  FixtureMachine& operator=(const FixtureMachine&) = delete;
  ~FixtureMachine();

  // Return the roots and the NVML library every sensor of this machine is read from.
  const sensors::SensorPaths& paths() const { return paths_; }

 private:
  std::filesystem::path dir_;
  sensors::SensorPaths paths_;
};

// The bare reads behind a set of channels: one sysfs file per RAPL or hwmon channel (read with
// os::read_int64) and one NVML energy call per GPU, made through an NvmlApi of its own.
class RawReads {
 public:
  // Return the reads behind channels (RAPL, hwmon and NVML counter channels of paths). Throws
  // std::runtime_error when a channel's file or GPU cannot be found, so that the comparison always
  // covers exactly the channels the meter reads.
  RawReads(const std::vector<sensors::Channel>& channels, const sensors::SensorPaths& paths);

  // Read every sysfs file once; return the sum of the values (so the reads cannot be elided).
  std::int64_t read_files() const;
  // Call nvmlDeviceGetTotalEnergyConsumption once per GPU; return the sum of the values.
  std::int64_t read_gpus() const;

  std::size_t file_count() const { return files_.size(); }
  std::size_t gpu_count() const { return gpus_.size(); }

 private:
  std::vector<std::filesystem::path> files_;
  std::unique_ptr<sensors::NvmlApi> nvml_;
  std::vector<sensors::nvml::Device> gpus_;
};

}  // namespace jobcarbon::bench
