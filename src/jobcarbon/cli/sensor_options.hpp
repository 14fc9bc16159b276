// The options that say where sensors look (shared by `run` and `sensors`), and the CPU power
// the estimator uses.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include <jobcarbon/sensors/estimator_sensor.hpp>
#include <jobcarbon/sensors/registry.hpp>

namespace jobcarbon::cli {

struct SensorOptions {
  std::optional<std::string> powercap_root;
  std::optional<std::string> hwmon_root;
  std::optional<std::string> nvml_lib;
  std::optional<std::string> proc_root;
};

// Add --powercap-root, --hwmon-root, --nvml-lib and --proc-root to a subcommand.
void add_sensor_options(CLI::App& cmd, SensorOptions& opts);

// Return the sensor paths: flags first, then the config file's values, then the defaults.
sensors::SensorPaths sensor_paths(const SensorOptions& flags, const SensorOptions& config);

// Return the estimator's CPU power for this machine: W per core from the CPU model's entry in
// the TDP table, else the documented default, with its source.
sensors::EstimatorOptions estimator_cpu_power(const std::filesystem::path& proc_root);

}  // namespace jobcarbon::cli
