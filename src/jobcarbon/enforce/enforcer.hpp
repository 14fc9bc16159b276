// The `stop` policy's enforcer (issue #5, docs/slurm.md "Enforcing stop budgets"): one per
// cluster, on the controller host. Each round it reads every `stop` budget's standing (finished
// jobs plus running jobs' provisional usage) from the ledger and Slurm's queue, and for the jobs
// charged to an account over its limit (the account or any ancestor with a stop budget; a
// user's own budget only for that user's jobs):
//   running, not yet signalled           → the checkpoint signal (default USR1, to the batch shell)
//   running, signalled, grace elapsed    → cancelled (its Epilog runs: the record is written)
//   pending                              → held, so it does not start and burn more
// and when the account is back within its limit (the budget was raised, a new year began):
// jobs it held are released and signalled jobs are forgotten. New submissions are refused by
// the submission check (stop counts as deny there). The planning is pure (plan_round); run_round
// does the reading and the acting.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <jobcarbon/enforce/slurm_queue.hpp>
#include <jobcarbon/ledger/store.hpp>
#include <jobcarbon/policy/budget_period.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::enforce {

// What the enforcer remembers between rounds (and across restarts: state file).
struct EnforcerState {
  std::map<std::string, std::int64_t> signalled_us;  // job id -> when signalled (µs, Unix epoch)
  std::map<std::string, std::string> held;           // job id -> the budget that held it

  bool operator==(const EnforcerState&) const = default;
};

// Return STATE as JSON text ({"version":1,"signalled":{...},"held":{...}}).
std::string serialize_state(const EnforcerState& state);
// Return the state in TEXT, or an error naming what is wrong ("enforcer state: 'signalled' of job
// 12 is not an integer").
std::expected<EnforcerState, std::string> parse_state(std::string_view text);

// One `stop` budget's standing this round.
struct StopLimit {
  std::string account;
  std::string user;      // "" for the whole account
  bool over = false;     // used + running > limit
  std::string standing;  // for the log: "used 1.3 kg + 0.2 kg running of its 1.2 kg CO2 budget"
};

// Return the budget's name in messages: "vision", or "vision (user ada)".
std::string limit_name(const StopLimit& limit);

// A job and the accounts it is charged to: its account, then the parents (Store::account_chain).
struct ChargedJob {
  SlurmJob job;
  std::vector<std::string> chain;
};

// One thing to do to one job.
struct Step {
  enum class Kind { kSignal, kCancel, kHold, kRelease };
  Kind kind = Kind::kSignal;
  std::string job;
  std::string budget;  // limit_name of the budget behind it
  bool operator==(const Step&) const = default;
};

// Return what to do this round (see the file comment), in the order jobs are given: for each job
// the first over-limit budget that covers it decides; a job not covered by any is left alone,
// except that a pending job this enforcer held is released. Uses policy::stop_action.
std::vector<Step> plan_round(std::span<const ChargedJob> jobs, std::span<const StopLimit> limits,
                             const EnforcerState& state, policy::WallTime now, Duration grace);

// Return STATE after STEP was carried out at NOW: a signal records the time, a hold the budget,
// a release forgets the hold; and drop what concerns jobs not in LIVE (ended, cancelled), or
// running jobs no budget covers any more (so a later crossing signals them again).
void after_step(EnforcerState& state, const Step& step, policy::WallTime now);
void forget_settled(EnforcerState& state, std::span<const ChargedJob> live,
                    std::span<const StopLimit> limits);

// How run_round acts.
struct EnforcerOptions {
  std::string signal = "USR1";
  Duration grace = std::chrono::minutes(5);
  bool dry_run = false;  // plan and log, change nothing in Slurm
};

// One round: read the stop budgets' standing from STORE (for the budget year that holds NOW),
// the queue from CLUSTER, plan, act, update STATE. Each action and each failure is passed to LOG
// as one line. Error (nothing done, STATE unchanged): the ledger or the queue cannot be read —
// the enforcer never stops jobs on numbers it could not read.
std::expected<void, std::string> run_round(ledger::Store& store, Cluster& cluster,
                                           EnforcerState& state, const EnforcerOptions& options,
                                           policy::WallTime now,
                                           const std::function<void(const std::string&)>& log);

}  // namespace jobcarbon::enforce
