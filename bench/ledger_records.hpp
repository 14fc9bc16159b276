// The ledger benchmark's population and job records: a site of a few hundred accounts in a
// three-level hierarchy (institutes, departments, groups), thousands of users, four GPU clusters,
// and a stream of realistic, varied job records (1–16 nodes, 1–64 GPUs, one or two steps, tags,
// a compact run report) whose start times advance evenly over two years, so that some jobs span
// New Year. Deterministic: built from std::mt19937_64's raw output with fixed seeds, so the same
// records come out on any machine and with any standard library, and a second pass over the
// stream (the raw comparison) writes exactly the rows the Store wrote.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <jobcarbon/ledger/job_record.hpp>

namespace jobcarbon::bench {

// One account; parents come before their children in Population::accounts.
struct BenchAccount {
  std::string name;                   // "physics", "physics-hep", "physics-hep-atlas"
  std::optional<std::size_t> parent;  // index into Population::accounts; nullopt for a root
  std::vector<std::size_t> users;     // indices into Population::users that charge it
};

// One GPU cluster as its records describe it.
struct BenchCluster {
  std::string name;
  std::string zone;      // intensity zone
  double intensity = 0;  // kg CO2/kWh
  double pue = 1.0;
  std::string gpu_model;
  int gpus_per_node = 4;
  int nodes = 0;          // node names are NAME-nid0001 ... NAME-nidNODES
  int gpu_watts_low = 0;  // typical per-GPU power range of this model under training
  int gpu_watts_high = 0;
};

struct Population {
  std::vector<BenchAccount> accounts;          // 8 roots, 40 departments, 280 groups
  std::vector<std::string> users;              // 3000 users
  std::vector<std::size_t> user_group;         // each user's own group (index into accounts)
  std::vector<std::size_t> user_second_group;  // a second group each user sometimes charges
  std::vector<BenchCluster> clusters;
};

// Return the fixed population of the benchmark site.
Population make_population();

// The first instant of the records' span (2024-12-01T00:00Z) and its length (730 days): starts
// cover December 2024, all of 2025 and 2026 up to November 30, so jobs span two New Years.
inline constexpr ledger::Timestamp kSpanStart{std::chrono::microseconds(1'733'011'200'000'000)};
inline constexpr std::chrono::microseconds kSpanLength{730LL * 86'400 * 1'000'000};

// The job records of the benchmark: COUNT records in start order, drawn from SEED.
class RecordStream {
 public:
  // Job ids start at FIRST_JOB_ID on every cluster.
  RecordStream(const Population& population, std::size_t count, std::uint64_t seed = 20261127,
               std::int64_t first_job_id = 1'000'000);

  // Return the next record, or nullopt once COUNT records were returned.
  std::optional<ledger::JobRecord> next();

  std::size_t jobs() const { return jobs_; }  // jobs begun so far
  // Records returned so far whose job runs across New Year (UTC).
  std::size_t spanning_new_year() const { return spanning_new_year_; }

 private:
  void begin_job();

  const Population& population_;
  std::size_t count_;
  std::size_t emitted_ = 0;
  std::size_t jobs_ = 0;
  std::size_t spanning_new_year_ = 0;
  std::mt19937_64 rng_;
  std::vector<std::int64_t> next_job_id_;   // per cluster
  std::vector<ledger::JobRecord> pending_;  // the current job's records not yet returned
};

}  // namespace jobcarbon::bench
