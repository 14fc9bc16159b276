// The budget questions people and Slurm ask, answered from any Store: the decision for a new job
// (`budget check`) and each budget's standing (`budget show`). The numbers come from the running
// totals and running jobs' provisional usage; the rules are policy::check_submission's.
#pragma once

#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include <jobcarbon/ledger/budget_record.hpp>
#include <jobcarbon/ledger/store.hpp>
#include <jobcarbon/policy/budget_period.hpp>
#include <jobcarbon/policy/budget_policy.hpp>

namespace jobcarbon::ledger {

// Return the decision for a new job of ESTIMATE charged to ACCOUNT (and USER within it, "" for
// none) in YEAR: the user's own budget when there is one (as the first level, named
// "ACCOUNT (user USER)"), then ACCOUNT's budget and its ancestors', each level's usage including
// its descendants. CO2 budgets decide on ESTIMATE, energy (kWh) budgets on ESTIMATE_KWH (the
// job's IT energy). Error: the store's errors (the caller's "cannot decide").
std::expected<policy::Verdict, std::string> check_budget(Store& store, const std::string& account,
                                                         const std::string& user, KgCo2 estimate,
                                                         int year,
                                                         const std::string& admin_contact = "",
                                                         double estimate_kwh = 0);

// One budget's standing.
struct BudgetStatus {
  BudgetRecord budget;
  Usage used;                     // finished jobs, the account's descendants included
  Usage running;                  // running jobs' provisional usage so far, likewise
  std::optional<double> percent;  // (used + running) ÷ limit × 100 (nullopt for a limit of 0)
  double remaining = 0;           // limit − used − running, in the limit's unit (kg or kWh)
  // used + running + the recent rate × the time left: the rate is the finished jobs that started
  // in the last kRecentWindow (or since the year began) over that window. A past year projects
  // to what was used; nullopt before the year starts.
  std::optional<double> projected;
};

// How far back `budget show` looks for the rate it projects with.
inline constexpr std::chrono::hours kRecentWindow{24 * 30};

// Return the standing of every budget for ACCOUNT (all when nullopt) in YEAR, with projections
// to the end of the year computed at NOW (a past year projects to what was used).
std::expected<std::vector<BudgetStatus>, std::string> budget_status(
    Store& store, const std::optional<std::string>& account, int year, policy::WallTime now);

// Return the budget year (the period of FROM's years) that holds T.
int year_of(policy::WallTime t, policy::YearStart from = {});

// Return the budget year that holds NOW on STORE (its budget year start). Error: the store's.
std::expected<int, std::string> budget_year_now(Store& store, policy::WallTime now);

}  // namespace jobcarbon::ledger
