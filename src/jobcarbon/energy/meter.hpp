// The meter stage: samples every sensor on a monotonic clock and turns readings into the energy
// of each channel over each interval — counter deltas across wraps and resets, power-only channels
// integrated (trapezoid) — with the time each channel was actually measured (coverage).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <jobcarbon/os/clock.hpp>
#include <jobcarbon/sensors/sensor.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::energy {

// The energy of every channel between two consecutive samples.
struct Interval {
  os::MonoTime start;
  os::MonoTime end;
  os::WallTime wall_start;
  os::WallTime wall_end;
  std::vector<Microjoules> energy;  // per Meter::channels() index
  std::vector<Duration> covered;    // how long of [start, end] each channel was measured
  Duration length() const { return end - start; }
};

// Extend `pending` (the sum of the intervals since some earlier moment) by `next`, the interval
// that follows it: its end moves to next's end and every channel's energy and coverage add up.
void merge_into(Interval& pending, const Interval& next);

// Running state and totals of one channel.
struct ChannelState {
  bool have_previous = false;  // a good reading to measure from
  std::int64_t previous = 0;   // last good value (µJ for counters, µW for power)
  os::MonoTime previous_time{};
  Microjoules total;        // energy since start()
  Duration covered{0};      // measured time since start()
  Microwatts last_power;    // mean power over the last interval it was measured
  Microwatts peak_power;    // highest interval mean power seen
  std::int64_t errors = 0;  // failed reads since start()
  std::int64_t wraps = 0;   // counter wraps seen
  std::int64_t resets = 0;  // counter resets seen (went back without a wrap range)
  std::string last_error;   // text of the most recent failed read
};

class Meter {
 public:
  // The meter owns its sensors; the clock must outlive it.
  Meter(std::vector<std::unique_ptr<sensors::Sensor>> sensors, const os::Clock& clock);

  // Return every channel of every sensor, in a fixed order used by Interval::energy.
  const std::vector<sensors::Channel>& channels() const { return channels_; }
  // Return the kind of the sensor each channel belongs to ("rapl", "nvml", ...).
  const std::vector<std::string>& channel_sensor() const { return channel_sensor_; }
  // Return the running state of each channel.
  const std::vector<ChannelState>& states() const { return states_; }

  // Take the first reading of every channel; energy is counted from here.
  void start();
  // Read every channel and return the energy since the previous sample (or start()).
  const Interval& sample();
  // Read only the sensors whose entry in read_sensor is true (one per sensor, in construction
  // order) and return the interval since the previous sample: the others show no energy and no
  // coverage for it, and their next read covers the whole time since their last one (a counter's
  // delta is exact whatever the gap). The agent reads cheap power-only sensors often and costly
  // counters (NVML: ms per read) seldom this way.
  const Interval& sample(const std::vector<bool>& read_sensor);
  // Return the number of sensors (the length sample(read_sensor) expects).
  std::size_t sensor_count() const { return sensors_.size(); }
  // Return the index of the sensor channel c belongs to.
  std::size_t sensor_of_channel(std::size_t c) const;
  // Per sensor: the wall time its last read() took (steady clock, whatever clock the meter was
  // given: this is the reading's real cost) and whether every channel of that read succeeded.
  const std::vector<Duration>& last_read_durations() const { return read_duration_; }
  const std::vector<bool>& last_read_ok() const { return read_ok_; }
  // Return whether every channel of sensor s reports power only (no energy counter).
  bool power_only(std::size_t s) const;

  // Continue from readings saved before a restart instead of start(): counter channels listed in
  // previous (channel index -> last good raw value) measure from those values, so the first
  // sample() covers everything since `at`, including the time no process was reading; the other
  // channels (power-only, or not listed) start from their first read. Only meaningful within one
  // boot (counters restart at boot) and with the same sensors.
  void resume(os::MonoTime at, os::WallTime wall_at,
              const std::vector<std::pair<std::size_t, std::int64_t>>& previous);

  // Return the monotonic time of start().
  os::MonoTime started_at() const { return started_at_; }
  os::WallTime wall_started_at() const { return wall_started_at_; }

 private:
  void read_all(const std::vector<bool>* read_sensor);

  std::vector<std::unique_ptr<sensors::Sensor>> sensors_;
  const os::Clock& clock_;
  std::vector<sensors::Channel> channels_;
  std::vector<std::string> channel_sensor_;
  std::vector<std::size_t> first_channel_;          // per sensor: index of its first channel
  std::vector<std::vector<sensors::Reading>> raw_;  // per sensor: reused read buffers
  std::vector<ChannelState> states_;
  std::vector<Duration> read_duration_;
  std::vector<bool> read_ok_;
  Interval interval_;
  os::MonoTime started_at_{};
  os::WallTime wall_started_at_{};
};

}  // namespace jobcarbon::energy
