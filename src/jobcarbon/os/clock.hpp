// The one seam for time: a monotonic clock for intervals, the wall clock only for labelling
// records and looking up time-varying carbon intensity. Tests inject a FakeClock.
#pragma once

#include <chrono>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::os {

using MonoTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Return the monotonic time (CLOCK_MONOTONIC); never goes back.
  virtual MonoTime monotonic() const = 0;
  // Return the wall-clock time (UTC).
  virtual WallTime wall() const = 0;
};

// The real clocks of the machine.
class SystemClock final : public Clock {
 public:
  MonoTime monotonic() const override { return std::chrono::steady_clock::now(); }
  WallTime wall() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to; both clocks advance together.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(WallTime wall_start = WallTime(std::chrono::seconds(1'800'000'000)))
      : wall_(wall_start) {}
  MonoTime monotonic() const override { return mono_; }
  WallTime wall() const override { return wall_; }
  void advance(Duration d) {
    mono_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }

 private:
  MonoTime mono_{std::chrono::seconds(1000)};
  WallTime wall_;
};

}  // namespace jobcarbon::os
