#include <jobcarbon/energy/meter.hpp>

#include <jobcarbon/energy/counter.hpp>

namespace jobcarbon::energy {

using sensors::ChannelKind;

Meter::Meter(std::vector<std::unique_ptr<sensors::Sensor>> sensors, const os::Clock& clock)
    : sensors_(std::move(sensors)), clock_(clock) {
  for (const auto& s : sensors_) {
    first_channel_.push_back(channels_.size());
    for (const auto& c : s->channels()) {
      channels_.push_back(c);
      channel_sensor_.emplace_back(s->name());
    }
    raw_.emplace_back();
  }
  states_.resize(channels_.size());
  interval_.energy.resize(channels_.size());
  interval_.covered.resize(channels_.size());
}

void Meter::start() {
  started_at_ = clock_.monotonic();
  wall_started_at_ = clock_.wall();
  interval_.end = started_at_;
  interval_.wall_end = wall_started_at_;
  read_all();
}

const Interval& Meter::sample() {
  interval_.start = interval_.end;
  interval_.wall_start = interval_.wall_end;
  interval_.end = clock_.monotonic();
  interval_.wall_end = clock_.wall();
  read_all();
  return interval_;
}

void Meter::read_all() {
  const os::MonoTime now = clock_.monotonic();
  for (std::size_t s = 0; s < sensors_.size(); ++s) {
    auto& raw = raw_[s];
    sensors_[s]->read(raw);
    const std::size_t base = first_channel_[s];
    const std::size_t n = sensors_[s]->channels().size();
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t ci = base + i;
      auto& st = states_[ci];
      const auto& ch = channels_[ci];
      interval_.energy[ci] = Microjoules(0);
      interval_.covered[ci] = Duration(0);
      if (i >= raw.size() || !raw[i]) {
        ++st.errors;
        st.last_error = i < raw.size() ? raw[i].error() : "no reading";
        if (ch.kind == ChannelKind::kPower) st.have_previous = false;  // a gap is not measured
        continue;
      }
      const std::int64_t value = *raw[i];
      if (st.have_previous) {
        const Duration dt = now - st.previous_time;
        Microjoules e;
        if (ch.kind == ChannelKind::kEnergyCounter) {
          // A counter keeps counting through failed reads: the delta from the last good value
          // covers the whole gap.
          const auto d = counter_delta(Microjoules(st.previous), Microjoules(value), ch.wrap_range);
          e = d.energy;
          if (d.step == CounterStep::kWrapped) ++st.wraps;
          if (d.step == CounterStep::kReset) ++st.resets;
        } else {
          // Trapezoid between the two power samples.
          e = energy_of(Microwatts((st.previous + value) / 2), dt);
        }
        interval_.energy[ci] = e;
        interval_.covered[ci] = dt;
        st.total += e;
        st.covered += dt;
        if (dt.count() > 0) {
          st.last_power = power_of(e, dt);
          if (st.last_power > st.peak_power) st.peak_power = st.last_power;
        }
      }
      st.have_previous = true;
      st.previous = value;
      st.previous_time = now;
    }
  }
}

}  // namespace jobcarbon::energy
