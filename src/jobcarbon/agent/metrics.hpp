// The node agent's Prometheus exposition: a pure renderer from a snapshot of what the agent knows
// to the text format, version 0.0.4. No I/O here: the HTTP endpoint takes a snapshot under its
// lock, then renders outside it. Every metric is described in docs/metrics.md.
#pragma once

#include <jobcarbon/sensors/sensor.hpp>
#include <jobcarbon/units/units.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobcarbon::agent {

// The TCP port /metrics listens on unless configured otherwise. From the exporters' range of the
// Prometheus "default port allocations" wiki page (9100-9999), so firewall rules and scrape
// configurations written for exporters cover it; see docs/metrics.md for why this one.
inline constexpr int kDefaultMetricsPort = 9877;

// The Content-Type of what render_metrics() returns.
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// One channel of the node, as the meter has accumulated it since the agent started.
struct ChannelMetrics {
  std::string sensor;   // the sensor's kind, as Sensor::name(): "rapl", "nvml"
  std::string channel;  // Channel::id, unique on the node: "rapl:intel-rapl:0"
  sensors::Domain domain = sensors::Domain::kOther;
  std::string label;   // Channel::label: "package-0"
  Microjoules energy;  // measured since the agent started; never decreases
  // Mean power over the last sampling interval; nullopt before the second sample (the series is
  // then left out rather than exposed as a made-up 0).
  std::optional<Microwatts> power;
};

// One job (step) running on the node, with its usage so far on this node.
struct JobMetrics {
  std::string cluster;
  std::string job_id;
  std::string step;  // Slurm step ("batch", "0", ...); "" for a job without steps
  std::string user;
  std::string account;
  Microjoules energy;  // attributed to the job on this node since it started
  KgCo2 co2;           // of that energy, with PUE, at the intensity of each interval (exposed in g)
};

// How one sensor has fared.
struct SensorMetrics {
  std::string sensor;              // Sensor::name()
  bool up = false;                 // false when the last read of any of its channels failed
  Duration last_read_duration{0};  // wall time the last read() took
  std::uint64_t read_errors = 0;   // failed channel reads since the agent started
};

// What the agent costs the node (from /proc/self; read by the caller).
struct ProcessMetrics {
  Duration cpu_time{0};  // user + system
  std::uint64_t resident_memory_bytes = 0;
};

// Energy per domain that is not any running job's.
struct DomainEnergy {
  sensors::Domain domain = sensors::Domain::kOther;
  Microjoules energy;
};

// Everything one scrape shows. Finished jobs are simply absent from `jobs`: the exposition then
// drops their series, which keeps the label sets bounded by the jobs running at once.
// Preconditions (not checked): channel ids, sensor names and job label sets are each unique,
// and each domain appears at most once in `unallocated` and `idle`.
struct MetricsSnapshot {
  std::vector<ChannelMetrics> channels;
  std::vector<JobMetrics> jobs;
  std::vector<SensorMetrics> sensors;
  ProcessMetrics process;
  // Since the agent started: machine energy minus the running jobs' parts, per domain (includes
  // the idle part below).
  std::vector<DomainEnergy> unallocated;
  // The part of `unallocated` measured in intervals when no job at all ran on the node.
  std::vector<DomainEnergy> idle;
};

// Return the exposition of the snapshot in the Prometheus text format 0.0.4: every family with
// its HELP and TYPE lines (also when it has no series), in a fixed order, series in the order of
// the snapshot. Counters of energy are printed exactly from their integer microjoules.
std::string render_metrics(const MetricsSnapshot& snapshot);

// Return `units` / 10^decimals as an exact decimal without exponent or trailing zeros:
// (1, 6) → "0.000001", (12345678901234567, 6) → "12345678901.234567", (2000000, 6) → "2",
// (-5, 1) → "-0.5". decimals must be in [0, 18].
std::string exact_decimal(std::int64_t units, int decimals);

// Return the label value escaped as the text format requires: backslash, double quote and line
// feed become \\, \" and \n; everything else (UTF-8 included) is kept as it is.
std::string escape_label_value(std::string_view value);

}  // namespace jobcarbon::agent
