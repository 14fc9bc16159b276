// The one list of sensor kinds, in preference order, and the rule for when estimates are used.
// Registration is explicit: adding a sensor means adding a line to discover_sensors().
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <jobcarbon/os/clock.hpp>
#include <jobcarbon/sensors/estimator_sensor.hpp>
#include <jobcarbon/sensors/nvml_sensor.hpp>
#include <jobcarbon/sensors/sensor.hpp>

namespace jobcarbon::sensors {

// Where each sensor looks. Tests point these at fixture trees and the fake NVML library.
struct SensorPaths {
  std::filesystem::path powercap_root = "/sys/class/powercap";
  std::filesystem::path hwmon_root = "/sys/class/hwmon";
  std::string nvml_library = kDefaultNvmlLibrary;
  std::filesystem::path proc_root = "/proc";
};

struct Discovery {
  std::vector<Probe> probes;  // every kind looked for, available or not, in preference order
  std::vector<GpuInfo> gpus;  // the GPUs NVML reported (for matching GPUs to a job)
};

// Look for every kind of sensor: NVML, RAPL, hwmon, then the estimator for whatever domain no
// hardware covers (CPU when there is no CPU package or node meter, memory when there is no DRAM
// or node meter). cpu_power gives the estimator's W per core and its source.
Discovery discover_sensors(const SensorPaths& paths, const EstimatorOptions& cpu_power,
                           const os::Clock& clock);

// Move the available sensors out of the probes (the probes keep their names and notes).
std::vector<std::unique_ptr<Sensor>> take_sensors(std::vector<Probe>& probes);

}  // namespace jobcarbon::sensors
