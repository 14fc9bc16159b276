// What the enforcer needs from Slurm, and the real thing: Slurm's own commands (squeue, scancel,
// scontrol), so every action goes through slurmctld's rules and lands in its log. Tests use the
// same class against a real cluster (tests/e2e/slurm_enforce_test.sh).
#pragma once

#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace jobcarbon::enforce {

// A job in Slurm's queue.
struct SlurmJob {
  enum class State { kRunning, kPending, kOther };
  std::string id;  // as squeue prints %i: "123", an array task "123_4"
  State state = State::kOther;
  std::string account;  // lower-cased by Slurm
  std::string user;
  std::string reason;  // why a pending job waits ("Priority", "JobHeldAdmin", ...)

  bool operator==(const SlurmJob&) const = default;
};

// The squeue output format parse_squeue reads: id|state|account|user|reason, one job a line.
inline constexpr std::string_view kSqueueFormat = "%i|%T|%a|%u|%r";

// Return the jobs in TEXT, squeue's output with -h -o kSqueueFormat. States other than RUNNING
// and PENDING (COMPLETING, SUSPENDED, ...) are kOther. Error naming the line for a line without
// five fields or with an empty id ("squeue output line 3: expected 5 fields separated by '|', got
// 2: 'x|y'"); empty lines are skipped.
std::expected<std::vector<SlurmJob>, std::string> parse_squeue(std::string_view text);

// The workload manager as the enforcer sees it. Each call is one action on one job; an error
// names the job and what Slurm said.
class Cluster {
 public:
  virtual ~Cluster() = default;
  // Return the running and pending jobs.
  virtual std::expected<std::vector<SlurmJob>, std::string> jobs() = 0;
  // Send SIGNAL (a name: "USR1") to the job's batch shell (for a job without one, to its steps).
  virtual std::expected<void, std::string> signal(const std::string& job,
                                                  const std::string& signal) = 0;
  // Cancel the job (Slurm sends SIGTERM, then SIGKILL after its KillWait; the Epilog runs).
  virtual std::expected<void, std::string> cancel(const std::string& job) = 0;
  // Keep a pending job from starting / let it start again.
  virtual std::expected<void, std::string> hold(const std::string& job) = 0;
  virtual std::expected<void, std::string> release(const std::string& job) = 0;
};

// Where Slurm's commands are and how long each may take.
struct SlurmCommands {
  std::string squeue = "squeue";
  std::string scancel = "scancel";
  std::string scontrol = "scontrol";
  std::chrono::milliseconds timeout{10000};
};

// Return the Cluster that runs COMMANDS: `squeue -h -t RUNNING,PENDING -o kSqueueFormat`,
// `scancel --signal=SIG --batch JOB` (plain `--signal` for a job without a batch script),
// `scancel JOB`, `scontrol hold JOB`, `scontrol release JOB`. The environment (SLURM_CONF) is
// passed on.
std::unique_ptr<Cluster> slurm_cluster(SlurmCommands commands);

}  // namespace jobcarbon::enforce
