#include <jobcarbon/cli/sensors_command.hpp>

#include <fmt/format.h>

#include <jobcarbon/cli/config_loading.hpp>
#include <jobcarbon/cli/sensor_options.hpp>

namespace jobcarbon::cli {

std::string render_sensors(const sensors::Discovery& d) {
  std::string out;
  for (const auto& p : d.probes) {
    if (!p.sensor) {
      out += fmt::format("{:<10} unavailable: {}\n", p.name, p.unavailable_reason);
    } else {
      out += fmt::format("{:<10} {} channel{}\n", p.name, p.sensor->channels().size(),
                         p.sensor->channels().size() == 1 ? "" : "s");
      for (const auto& c : p.sensor->channels()) {
        std::string kind =
            c.kind == sensors::ChannelKind::kEnergyCounter
                ? (p.name == "estimator" ? "estimate (modelled counter)" : "energy counter")
                : "power, sampled and integrated";
        if (c.wrap_range) kind += fmt::format(", wraps at {} uJ", c.wrap_range->value);
        out += fmt::format("  {:<34} {:<16} {:<36} {}{}\n", c.label, sensors::domain_name(c.domain),
                           c.id, kind, c.additive ? "" : " (part of another channel: not added)");
      }
    }
    for (const auto& n : p.notes) out += fmt::format("  note: {}\n", n);
  }
  return out;
}

void add_sensors_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("sensors", "List the energy sensors found on this machine");
  auto opts = std::make_shared<SensorOptions>();
  auto config = std::make_shared<std::string>();
  add_sensor_options(*cmd, *opts);
  cmd->add_option("--config", *config, "Read this configuration file instead of the defaults");
  cmd->callback([opts, config]() {
    const Settings s = load_settings(*config);
    SensorOptions from_config{s.powercap_root, s.hwmon_root, s.nvml_lib, std::nullopt};
    const auto paths = sensor_paths(*opts, from_config);
    os::SystemClock clock;
    const auto d = sensors::discover_sensors(paths, estimator_cpu_power(paths.proc_root), clock);
    fmt::print("{}", render_sensors(d));
  });
}

}  // namespace jobcarbon::cli
