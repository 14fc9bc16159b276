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

  // Return the monotonic time of start().
  os::MonoTime started_at() const { return started_at_; }
  os::WallTime wall_started_at() const { return wall_started_at_; }

 private:
  void read_all();

  std::vector<std::unique_ptr<sensors::Sensor>> sensors_;
  const os::Clock& clock_;
  std::vector<sensors::Channel> channels_;
  std::vector<std::string> channel_sensor_;
  std::vector<std::size_t> first_channel_;          // per sensor: index of its first channel
  std::vector<std::vector<sensors::Reading>> raw_;  // per sensor: reused read buffers
  std::vector<ChannelState> states_;
  Interval interval_;
  os::MonoTime started_at_{};
  os::WallTime wall_started_at_{};
};

}  // namespace jobcarbon::energy
