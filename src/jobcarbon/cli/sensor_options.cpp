#include <jobcarbon/cli/sensor_options.hpp>

#include <stdexcept>

#include <fmt/format.h>

#include <jobcarbon/carbon/cpu_power_table.hpp>
#include <jobcarbon/os/machine.hpp>

namespace jobcarbon::cli {

void add_sensor_options(CLI::App& cmd, SensorOptions& opts) {
  cmd.add_option("--powercap-root", opts.powercap_root,
                 "Powercap class directory for RAPL (default /sys/class/powercap)");
  cmd.add_option("--hwmon-root", opts.hwmon_root,
                 "hwmon class directory (default /sys/class/hwmon)");
  cmd.add_option("--nvml-lib", opts.nvml_lib, "NVML library to load (default libnvidia-ml.so.1)");
  cmd.add_option("--proc-root", opts.proc_root, "proc file system (default /proc)")
      ->group("");  // for tests on fixture trees; hidden from --help
}

sensors::SensorPaths sensor_paths(const SensorOptions& flags, const SensorOptions& config) {
  sensors::SensorPaths p;
  auto pick = [](const std::optional<std::string>& a, const std::optional<std::string>& b,
                 auto fallback) { return a ? *a : (b ? *b : fallback); };
  p.powercap_root = pick(flags.powercap_root, config.powercap_root, p.powercap_root.string());
  p.hwmon_root = pick(flags.hwmon_root, config.hwmon_root, p.hwmon_root.string());
  p.nvml_library = pick(flags.nvml_lib, config.nvml_lib, p.nvml_library);
  p.proc_root = pick(flags.proc_root, config.proc_root, p.proc_root.string());
  return p;
}

sensors::EstimatorOptions estimator_cpu_power(const std::filesystem::path& proc_root) {
  sensors::EstimatorOptions o;
  const std::string model = os::Machine(proc_root).cpu_model();
  const auto table = carbon::CpuPowerTable::load_embedded();
  if (!table) throw std::runtime_error("embedded CPU power table: " + table.error());
  const auto found = table->lookup(model);
  const carbon::CpuPower power = found ? *found : table->default_power();
  o.watts_per_core = power.watts_per_core;
  o.cpu_power_source =
      found ? fmt::format("{}: {} W TDP / {} cores; {}", model, power.tdp_w, power.cores,
                          power.source)
            : fmt::format("CPU model '{}' not in the TDP table: default {} W per core; {}",
                          model.empty() ? "unknown" : model, power.watts_per_core, power.source);
  return o;
}

}  // namespace jobcarbon::cli
