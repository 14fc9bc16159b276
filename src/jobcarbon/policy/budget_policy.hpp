// The budget rules, as pure functions: the decision for a new job at submission (allow, warn,
// deny, with the sentence to show its user), and what the `stop` policy does to running jobs
// when their account crosses its limit (checkpoint signal, then cancel after a grace period).
// The caller (the ledger's `budget check`, the Slurm hook, the enforcer) reads the numbers; these
// functions only decide. The rules are written out in docs/budgets.md.
#pragma once

#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <jobcarbon/policy/budget_limit.hpp>
#include <jobcarbon/policy/budget_period.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::policy {

// What happens to a new job. Ordered by severity.
enum class Decision { kAllow, kWarn, kDeny };
// What a budget does once it is exceeded (`budget set --policy warn|deny|stop`): warn and let
// jobs run; refuse new jobs; refuse new jobs and also stop the running ones.
enum class Policy { kWarn, kDeny, kStop };

// Return "allow", "warn" or "deny" (the `--json` decision field).
std::string_view to_string(Decision decision);
// Return the exit status of `budget check` for DECISION: 0 allow, 1 warn, 2 deny.
int exit_code(Decision decision);
// Return "warn", "deny" or "stop".
std::string_view to_string(Policy policy);
// Return the policy named by TEXT (warn, deny, stop; any case), or an error naming TEXT.
std::expected<Policy, std::string> parse_policy(std::string_view text);

// One account's budget for a period: a CO2 limit, or an energy limit for sites that budget kWh.
struct Budget {
  KgCo2 limit;                      // a CO2 budget's limit (unused for an energy budget)
  std::optional<double> limit_kwh;  // set: an energy budget of this many kWh
  Policy policy = Policy::kWarn;
  WarnThreshold warn_at;  // 80 % unless set
};

// One level of an account hierarchy, with its totals for the period. A parent's totals include
// its children's usage (the caller sums them): a parent's limit covers the whole subtree.
struct AccountUsage {
  std::string account;
  std::optional<Budget> budget;  // std::nullopt: no limit at this level
  KgCo2 used;                    // finished jobs in the period
  KgCo2 running;                 // running jobs' provisional usage so far
  double used_kwh = 0;           // the same in energy (IT energy, kWh), for energy budgets
  double running_kwh = 0;
};

// The decision for a new job and what to tell its user; the numbers are those of the level
// that decided (the `--json` fields used_kg, limit_kg, estimate_kg).
struct Verdict {
  Decision decision = Decision::kAllow;
  std::string message;  // one sentence for the user, naming the account, used, limit, estimate
  std::string account;  // the deciding level; the job's own account when no level has a limit
  KgCo2 used;           // finished + running at that level (what counts against the limit)
  KgCo2 running;        // of which running jobs' provisional usage
  std::optional<KgCo2> limit;  // std::nullopt when no level has a limit, or it is an energy one
  KgCo2 estimate;
  // When the deciding level has an energy budget: its numbers in kWh.
  bool energy = false;
  double used_kwh = 0;
  std::optional<double> limit_kwh;
  double estimate_kwh = 0;
};

// Return the decision for a new job of ESTIMATE (negative counts as 0) charged to CHAIN: the
// job's account first, then its parent, up to the root. Each level with a budget decides on
// total = used + running + estimate:
//   total < warn_at × limit                → allow
//   total ≤ limit (at or above warn_at)     → warn
//   total > limit                          → warn under policy warn, deny under deny or stop.
// The job gets the most severe level's decision; among levels with that decision, the one with
// the highest total / limit speaks (the nearer level on a tie). No limit anywhere → allow.
// ADMIN_CONTACT is who the message says to ask ("your administrator" when empty). An empty
// CHAIN is allowed with a message saying there is no account. A level with an energy budget
// decides the same way on used_kwh + running_kwh + ESTIMATE_KWH against limit_kwh, and its
// message speaks of kWh and an energy budget; levels of both kinds compete by total / limit.
Verdict check_submission(std::span<const AccountUsage> chain, KgCo2 estimate,
                         std::string_view admin_contact, double estimate_kwh = 0);

// What the enforcer does to an account's running jobs under the `stop` policy.
enum class Action { kNone, kCheckpointSignal, kCancel };
// Return "none", "checkpoint-signal" or "cancel".
std::string_view to_string(Action action);

// Return what to do now for an account whose USAGE (finished + running jobs' provisional usage)
// is measured against LIMIT, given SIGNALLED_AT (when the enforcer sent the checkpoint signal,
// which it records when told kCheckpointSignal and clears when the account is back within its
// limit), NOW and the GRACE period:
//   usage ≤ limit                              → kNone (the caller clears SIGNALLED_AT)
//   over, never signalled                      → kCheckpointSignal (once)
//   over, signalled, NOW − SIGNALLED_AT < GRACE → kNone (jobs are saving their checkpoints)
//   over, signalled, grace elapsed              → kCancel
// A clock that went backwards (NOW before SIGNALLED_AT) counts as no time elapsed.
Action stop_action(KgCo2 usage, KgCo2 limit, std::optional<WallTime> signalled_at, WallTime now,
                   Duration grace);
// The same rule for a limit whose crossing the caller decided (OVER: usage > limit), whatever it
// is measured in (an energy budget compares kWh): not over → kNone, else as above.
Action stop_action(bool over, std::optional<WallTime> signalled_at, WallTime now, Duration grace);

}  // namespace jobcarbon::policy
