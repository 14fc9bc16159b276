// Benchmark: how far the meter's integral of a power-only channel (a GPU without the energy
// counter, an ACPI power meter) is from the true energy when the power is bursty, at 1, 10 and
// 100 Hz. In-process and deterministic: a scripted power sensor follows a seeded, training-like
// trace (300 W compute bursts of 40–400 ms separated by 80 W gaps of 20–200 ms), a FakeClock
// drives the real energy::Meter, and the true energy is the exact integral of the
// piecewise-constant trace (W × µs = µJ, in integers).
//
// Usage: integration_error [--seeds N] [--duration SECONDS] [--smoke]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <jobcarbon/energy/meter.hpp>
#include <jobcarbon/os/clock.hpp>
#include <jobcarbon/sensors/sensor.hpp>

namespace {

using namespace jobcarbon;
using std::chrono::microseconds;

// One constant-power stretch of the trace.
struct Segment {
  std::int64_t start_us = 0;
  std::int64_t watts = 0;
};

// A piecewise-constant power trace over [0, length_us).
struct Trace {
  std::vector<Segment> segments;  // sorted by start_us, the first at 0
  std::int64_t length_us = 0;

  // Return the power at time t (right-continuous: a change at t is already in effect).
  std::int64_t watts_at(std::int64_t t_us) const {
    const auto it =
        std::upper_bound(segments.begin(), segments.end(), t_us,
                         [](std::int64_t t, const Segment& s) { return t < s.start_us; });
    return std::prev(it)->watts;
  }

  // Return the exact energy of the trace: Σ W × µs = µJ.
  Microjoules energy() const {
    std::int64_t uj = 0;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      const std::int64_t end = i + 1 < segments.size() ? segments[i + 1].start_us : length_us;
      uj += segments[i].watts * (end - segments[i].start_us);
    }
    return Microjoules(uj);
  }
};

// Return a uniform integer in [lo, hi] from the engine's raw output (std::mt19937_64's output is
// fixed by the standard, unlike the distributions', so the trace is the same with any library).
std::int64_t uniform(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
}

// Return the training-like trace of one seed: bursts and gaps alternate, starting with a gap.
Trace bursty_trace(std::uint64_t seed, std::int64_t length_us) {
  std::mt19937_64 rng(seed);
  Trace t;
  t.length_us = length_us;
  bool burst = false;
  for (std::int64_t at = 0; at < length_us; burst = !burst) {
    t.segments.push_back({at, burst ? 300 : 80});
    at += burst ? uniform(rng, 40'000, 400'000) : uniform(rng, 20'000, 200'000);
  }
  return t;
}

// A power-only sensor that reports the trace's instantaneous power at the clock's time.
class TraceSensor final : public sensors::Sensor {
 public:
  TraceSensor(const Trace& trace, const os::Clock& clock)
      : trace_(trace), clock_(clock), t0_(clock.monotonic()) {
    sensors::Channel c;
    c.id = "trace:gpu";
    c.label = "bursty GPU (power only)";
    c.domain = sensors::Domain::kGpu;
    c.kind = sensors::ChannelKind::kPower;
    channels_.push_back(c);
  }
  std::string_view name() const override { return "trace"; }
  const std::vector<sensors::Channel>& channels() const override { return channels_; }
  void read(std::vector<sensors::Reading>& out) override {
    const auto t = std::chrono::duration_cast<microseconds>(clock_.monotonic() - t0_).count();
    out.assign(1, trace_.watts_at(t) * 1'000'000);  // W → µW
  }

 private:
  const Trace& trace_;
  const os::Clock& clock_;
  os::MonoTime t0_;
  std::vector<sensors::Channel> channels_;
};

struct Measured {
  Microjoules energy;
  std::int64_t samples = 0;
};

// Return what the real Meter integrates when sampling the trace every period_us, the last sample
// at the trace's end.
Measured meter_trace(const Trace& trace, std::int64_t period_us) {
  os::FakeClock clock;
  std::vector<std::unique_ptr<sensors::Sensor>> s;
  s.push_back(std::make_unique<TraceSensor>(trace, clock));
  energy::Meter meter(std::move(s), clock);
  meter.start();
  Measured m;
  for (std::int64_t t = 0; t < trace.length_us;) {
    const std::int64_t step = std::min(period_us, trace.length_us - t);
    clock.advance(microseconds(step));
    t += step;
    meter.sample();
    ++m.samples;
  }
  m.energy = meter.states().at(0).total;
  return m;
}

long parse_positive(const char* flag, const char* text) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v <= 0) {
    std::fprintf(stderr, "integration_error: %s needs a positive integer, got '%s'\n", flag, text);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  long seeds = 20;
  long duration_s = 600;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--smoke") {
      seeds = 3;
      duration_s = 60;
    } else if (a == "--seeds" && i + 1 < argc) {
      seeds = parse_positive("--seeds", argv[++i]);
    } else if (a == "--duration" && i + 1 < argc) {
      duration_s = parse_positive("--duration", argv[++i]);
    } else {
      std::fprintf(stderr, "usage: integration_error [--seeds N] [--duration SECONDS] [--smoke]\n");
      return 2;
    }
  }
  const std::int64_t length_us = duration_s * 1'000'000;

  // Self-check: a constant trace must be integrated exactly at any rate, or the numbers below
  // mean nothing.
  Trace flat;
  flat.segments.push_back({0, 300});
  flat.length_us = length_us;
  for (const std::int64_t period : {1'000'000, 100'000, 10'000}) {
    if (meter_trace(flat, period).energy != flat.energy()) {
      std::fprintf(stderr, "integration_error: constant 300 W not integrated exactly\n");
      return 1;
    }
  }

  std::printf(
      "power-only integration error: bursty trace (300 W bursts 40-400 ms, 80 W gaps "
      "20-200 ms), %ld s, seeds 1..%ld\n",
      duration_s, seeds);
  std::printf("%7s %9s %12s %12s %13s %14s %15s\n", "rate", "samples", "true J", "measured J",
              "mean err %", "mean |err| %", "worst |err| %");
  for (const int hz : {1, 10, 100}) {
    double sum_true = 0, sum_measured = 0, sum_err = 0, sum_abs = 0, worst = 0;
    std::int64_t samples = 0;
    for (long seed = 1; seed <= seeds; ++seed) {
      const Trace t = bursty_trace(static_cast<std::uint64_t>(seed), length_us);
      const Measured m = meter_trace(t, 1'000'000 / hz);
      const double truth = to_joules(t.energy());
      const double measured = to_joules(m.energy);
      const double err = 100.0 * (measured - truth) / truth;
      sum_true += truth;
      sum_measured += measured;
      sum_err += err;
      sum_abs += std::fabs(err);
      worst = std::max(worst, std::fabs(err));
      samples = m.samples;
    }
    const double n = static_cast<double>(seeds);
    std::printf("%5d Hz %9lld %12.1f %12.1f %+13.3f %14.3f %15.3f\n", hz,
                static_cast<long long>(samples), sum_true / n, sum_measured / n, sum_err / n,
                sum_abs / n, worst);
  }
  std::printf(
      "(true and measured J are means over the seeds; the error is per seed, then "
      "averaged)\n");
  return 0;
}
