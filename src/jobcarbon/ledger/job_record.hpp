// One finished job as the ledger keeps it: one record per job × node × step. Pure data; the
// Store writes and reads it. Schema and units: docs/ledger.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::ledger {

// A wall-clock instant (UTC) to the microsecond: the precision the ledger stores (and the one
// PostgreSQL's timestamptz has), so a record read back compares equal to the one written.
// Convert from system_clock::now() with std::chrono::floor<std::chrono::microseconds>(t).
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

// Return T as the ledger stores it: integer microseconds since 1970-01-01 UTC.
inline std::int64_t to_us(Timestamp t) {
  return t.time_since_epoch().count();
}
// Return the instant stored as V microseconds since 1970-01-01 UTC.
inline Timestamp from_us(std::int64_t v) {
  return Timestamp(std::chrono::microseconds(v));
}

// The step of a Slurm job's own record on a node (its Prolog registration with the node agent);
// the job's steps ("batch", "0", ...) are shares of it, kept apart (Store::append_step).
inline constexpr std::string_view kJobStep = "job";

// Energy charged to the job, per domain (the names of sensors::domain_name). When the node has a
// node-level meter, `node` holds only what the components do not explain, so the sum of all six
// is the job's energy and nothing is counted twice.
struct DomainEnergy {
  Microjoules gpu;
  Microjoules cpu;
  Microjoules dram;
  Microjoules node;
  Microjoules estimated_cpu;
  Microjoules estimated_memory;

  // Return the sum over all domains.
  constexpr Microjoules total() const {
    return gpu + cpu + dram + node + estimated_cpu + estimated_memory;
  }
  constexpr bool operator==(const DomainEnergy&) const = default;
};

struct JobRecord {
  // The key: (cluster, job_id, submit_time, step, node). Writing a record whose key exists is a
  // no-op, so a retried write never counts a job twice. submit_time is part of the key because
  // Slurm reuses job ids (controller reset, MaxJobId wrap).
  std::string cluster = "local";  // "local" for `jobcarbon run`
  std::string job_id;
  Timestamp submit_time;
  std::string step;  // "" for the whole job
  std::string node;  // hostname

  std::string user;
  std::string account;  // the group that pays; "" when none was given
  std::map<std::string, std::string> tags;
  Timestamp start;
  Timestamp end;
  int exit_code = 0;  // as a shell reports it (128+N for signal N)
  std::vector<std::string> command;

  DomainEnergy energy;             // charged to the job, per domain
  Microjoules energy_charged;      // what the job is charged (energy.total())
  Microjoules machine_energy;      // the whole machine over the job's lifetime
  Microjoules unallocated_energy;  // what no job used over the job's lifetime
  std::string method;              // "measured" | "estimated" | "mixed"
  int gpu_count = 0;
  std::string gpu_model;  // "" without GPUs
  // CPUs the job had: allocated CPUs for a batch job, the mean number of busy CPUs (CPU time over
  // duration) for `jobcarbon run` on a shared machine; 0 when unknown. With gpu_count it lets the
  // ledger learn typical power per device (Store::typical_power) for estimates at submission.
  double cpus = 0;
  // Work done, when the job says (e.g. 115305030 "images"): throughput per joule in reports.
  std::optional<double> work_count;
  std::string work_unit;

  double intensity_kg_per_kwh = 0;
  std::string intensity_zone;
  std::string intensity_dataset;
  int intensity_year = 0;
  double pue = 1.0;
  double co2_kg = 0;

  std::string report_json;  // the full run report (JSON), for `jobcarbon show`

  bool operator==(const JobRecord&) const = default;
};

// Energy a node used while no job ran on it (idle), over [start, end): written by the node agent
// (issue #4) for each closed idle interval, keyed by (cluster, node, start) so that a retried
// write is a no-op. Reported by `jobcarbon report --by node` beside the jobs' unallocated energy.
struct NodeIdle {
  std::string cluster = "local";
  std::string node;
  Timestamp start;
  Timestamp end;
  Microjoules energy;

  bool operator==(const NodeIdle&) const = default;
};

// A job still running: its provisional usage so far, written about once a minute by the node
// agent (issue #4) so that budgets see it, and replaced by the JobRecord with the same key when
// the job ends.
struct RunningRecord {
  std::string cluster = "local";
  std::string job_id;
  Timestamp submit_time;
  std::string step;
  std::string node;

  std::string user;
  std::string account;
  Timestamp start;
  Timestamp updated;           // when the usage below was measured
  Microjoules energy_charged;  // charged to the job from start to updated
  double co2_kg = 0;
  int gpu_count = 0;
  std::string gpu_model;

  bool operator==(const RunningRecord&) const = default;
};

}  // namespace jobcarbon::ledger
