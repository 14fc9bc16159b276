#include <jobcarbon/energy/meter.hpp>

#include <jobcarbon/energy/counter.hpp>

namespace jobcarbon::energy {

using sensors::ChannelKind;

void merge_into(Interval& pending, const Interval& next) {
  pending.end = next.end;
  pending.wall_end = next.wall_end;
  for (std::size_t c = 0; c < next.energy.size() && c < pending.energy.size(); ++c) {
    pending.energy[c] += next.energy[c];
    pending.covered[c] += next.covered[c];
  }
}

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
  read_duration_.resize(sensors_.size());
  read_ok_.resize(sensors_.size());
  interval_.energy.resize(channels_.size());
  interval_.covered.resize(channels_.size());
}

void Meter::start() {
  started_at_ = clock_.monotonic();
  wall_started_at_ = clock_.wall();
  interval_.end = started_at_;
  interval_.wall_end = wall_started_at_;
  read_all(nullptr);
}

void Meter::resume(os::MonoTime at, os::WallTime wall_at,
                   const std::vector<std::pair<std::size_t, std::int64_t>>& previous) {
  started_at_ = clock_.monotonic();
  wall_started_at_ = clock_.wall();
  interval_.end = at;
  interval_.wall_end = wall_at;
  for (auto& st : states_) st = ChannelState{};
  for (const auto& [c, value] : previous) {
    if (c >= channels_.size() || channels_[c].kind != ChannelKind::kEnergyCounter) continue;
    states_[c].have_previous = true;
    states_[c].previous = value;
    states_[c].previous_time = at;
  }
}

const Interval& Meter::sample() {
  return sample(std::vector<bool>(sensors_.size(), true));
}

const Interval& Meter::sample(const std::vector<bool>& read_sensor) {
  interval_.start = interval_.end;
  interval_.wall_start = interval_.wall_end;
  interval_.end = clock_.monotonic();
  interval_.wall_end = clock_.wall();
  read_all(&read_sensor);
  return interval_;
}

std::size_t Meter::sensor_of_channel(std::size_t c) const {
  std::size_t s = 0;
  while (s + 1 < first_channel_.size() && first_channel_[s + 1] <= c) ++s;
  return s;
}

bool Meter::power_only(std::size_t s) const {
  for (const auto& c : sensors_.at(s)->channels()) {
    if (c.kind != ChannelKind::kPower) return false;
  }
  return true;
}

void Meter::read_all(const std::vector<bool>* read_sensor) {
  const os::MonoTime now = clock_.monotonic();
  for (std::size_t s = 0; s < sensors_.size(); ++s) {
    const std::size_t base = first_channel_[s];
    const std::size_t n = sensors_[s]->channels().size();
    if (read_sensor != nullptr && (s >= read_sensor->size() || !(*read_sensor)[s])) {
      for (std::size_t i = 0; i < n; ++i) {
        interval_.energy[base + i] = Microjoules(0);
        interval_.covered[base + i] = Duration(0);
      }
      continue;
    }
    auto& raw = raw_[s];
    const auto read_start = std::chrono::steady_clock::now();
    sensors_[s]->read(raw);
    read_duration_[s] =
        std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - read_start);
    read_ok_[s] = raw.size() >= n;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t ci = base + i;
      auto& st = states_[ci];
      const auto& ch = channels_[ci];
      interval_.energy[ci] = Microjoules(0);
      interval_.covered[ci] = Duration(0);
      if (i >= raw.size() || !raw[i]) {
        ++st.errors;
        read_ok_[s] = false;
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
