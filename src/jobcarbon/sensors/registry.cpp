#include <jobcarbon/sensors/registry.hpp>

#include <algorithm>

#include <jobcarbon/sensors/hwmon_sensor.hpp>
#include <jobcarbon/sensors/rapl_sensor.hpp>

namespace jobcarbon::sensors {

namespace {

bool covers(const std::vector<Probe>& probes, Domain d) {
  for (const auto& p : probes) {
    if (!p.sensor) continue;
    const auto& ch = p.sensor->channels();
    if (std::any_of(ch.begin(), ch.end(),
                    [d](const Channel& c) { return c.additive && c.domain == d; })) {
      return true;
    }
  }
  return false;
}

// A sensor whose channels of one domain are shown but not added: the same energy is already
// counted by a preferred sensor (amd_energy's Esocket and RAPL's package read the same MSR).
class DemotedSensor final : public Sensor {
 public:
  DemotedSensor(std::unique_ptr<Sensor> inner, Domain demoted)
      : inner_(std::move(inner)), channels_(inner_->channels()) {
    for (auto& c : channels_) {
      if (c.domain == demoted) c.additive = false;
    }
  }
  std::string_view name() const override { return inner_->name(); }
  const std::vector<Channel>& channels() const override { return channels_; }
  void read(std::vector<Reading>& out) override { inner_->read(out); }

 private:
  std::unique_ptr<Sensor> inner_;
  std::vector<Channel> channels_;
};

}  // namespace

Discovery discover_sensors(const SensorPaths& paths, const EstimatorOptions& cpu_power,
                           const os::Clock& clock) {
  Discovery d;
  auto nvml = probe_nvml_with_gpus(paths.nvml_library);
  d.gpus = std::move(nvml.gpus);
  d.probes.push_back(std::move(nvml.probe));
  d.probes.push_back(probe_rapl(paths.powercap_root));
  Probe hwmon = probe_hwmon(paths.hwmon_root);
  if (hwmon.sensor && covers(d.probes, Domain::kCpuPackage)) {
    const auto& ch = hwmon.sensor->channels();
    if (std::any_of(ch.begin(), ch.end(), [](const Channel& c) {
          return c.additive && c.domain == Domain::kCpuPackage;
        })) {
      hwmon.sensor = std::make_unique<DemotedSensor>(std::move(hwmon.sensor), Domain::kCpuPackage);
      hwmon.notes.push_back(
          "CPU package channels shown but not added: RAPL already measures the packages");
    }
  }
  d.probes.push_back(std::move(hwmon));

  EstimatorOptions est = cpu_power;
  const bool node = covers(d.probes, Domain::kNode);
  est.cpu = !node && !covers(d.probes, Domain::kCpuPackage);
  est.memory = !node && !covers(d.probes, Domain::kDram);
  d.probes.push_back(probe_estimator(os::Machine(paths.proc_root), est, clock));
  return d;
}

std::vector<std::unique_ptr<Sensor>> take_sensors(std::vector<Probe>& probes) {
  std::vector<std::unique_ptr<Sensor>> sensors;
  for (auto& p : probes) {
    if (p.sensor) sensors.push_back(std::move(p.sensor));
  }
  return sensors;
}

}  // namespace jobcarbon::sensors
