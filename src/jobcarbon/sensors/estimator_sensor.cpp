#include <jobcarbon/sensors/estimator_sensor.hpp>

#include <cmath>

#include <fmt/format.h>

namespace jobcarbon::sensors {

namespace {

class EstimatorSensor final : public Sensor {
 public:
  EstimatorSensor(os::Machine machine, const EstimatorOptions& options, const os::Clock& clock)
      : machine_(std::move(machine)), options_(options), clock_(clock) {
    if (options_.cpu) {
      Channel c;
      c.id = "estimator:cpu";
      c.label = fmt::format("CPU estimate ({:.2f} W per busy core)", options_.watts_per_core);
      c.domain = Domain::kEstimatedCpu;
      c.kind = ChannelKind::kEnergyCounter;
      channels_.push_back(std::move(c));
    }
    if (options_.memory) {
      Channel c;
      c.id = "estimator:memory";
      c.label = fmt::format("memory estimate ({} W/GB in use)", kMemoryWattsPerGb);
      c.domain = Domain::kEstimatedMemory;
      c.kind = ChannelKind::kEnergyCounter;
      channels_.push_back(std::move(c));
    }
  }

  std::string_view name() const override { return "estimator"; }
  const std::vector<Channel>& channels() const override { return channels_; }

  void read(std::vector<Reading>& out) override {
    out.resize(channels_.size());
    std::size_t i = 0;
    if (options_.cpu) {
      const auto t = machine_.cpu_times();
      // busy µs × W = µJ: the counter is the machine's busy CPU time priced per core.
      out[i++] = t ? Reading(static_cast<std::int64_t>(static_cast<double>(t->busy.count()) *
                                                       options_.watts_per_core))
                   : Reading(std::unexpected(t.error()));
    }
    if (options_.memory) {
      // Memory is a level, not a counter: integrate it here (memory in use at this read × time
      // since the previous read) so that the channel is a counter like the others.
      const auto now = clock_.monotonic();
      const auto mem = machine_.memory();
      if (!mem) {
        out[i++] = std::unexpected(mem.error());
      } else {
        const double used_gb = static_cast<double>(mem->total_bytes - mem->available_bytes) / 1e9;
        if (have_memory_time_) {
          const double s = to_seconds(now - memory_time_);
          memory_uj_ += std::llround(used_gb * kMemoryWattsPerGb * s * 1e6);
        }
        have_memory_time_ = true;
        memory_time_ = now;
        out[i++] = memory_uj_;
      }
    }
  }

 private:
  os::Machine machine_;
  EstimatorOptions options_;
  const os::Clock& clock_;
  std::vector<Channel> channels_;
  bool have_memory_time_ = false;
  os::MonoTime memory_time_{};
  std::int64_t memory_uj_ = 0;
};

}  // namespace

Probe probe_estimator(os::Machine machine, const EstimatorOptions& options,
                      const os::Clock& clock) {
  Probe p;
  p.name = "estimator";
  if (!options.cpu && !options.memory) {
    p.unavailable_reason = "not needed: hardware sensors cover the CPU and memory";
    return p;
  }
  if (options.cpu) {
    if (const auto t = machine.cpu_times(); !t) {
      p.unavailable_reason = "cannot read the machine's CPU time: " + t.error();
      return p;
    }
  }
  if (options.cpu) {
    p.notes.push_back(fmt::format("CPU energy is estimated: CPU time × {:.2f} W per core ({})",
                                  options.watts_per_core, options.cpu_power_source));
  }
  if (options.memory) {
    p.notes.push_back(
        fmt::format("memory energy is estimated: memory in use × {} W/GB (Green Algorithms)",
                    kMemoryWattsPerGb));
  }
  p.sensor = std::make_unique<EstimatorSensor>(std::move(machine), options, clock);
  return p;
}

}  // namespace jobcarbon::sensors
