// Budgets and usage totals as the ledger keeps them (schema: docs/ledger.md, migration 0002).
// Pure data; the Store writes and reads it, policy/ decides with it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <jobcarbon/policy/budget_limit.hpp>
#include <jobcarbon/policy/budget_policy.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::ledger {

// One budget: a limit for an account (user "" = the whole account) or for one user within it,
// for one calendar year (UTC). Exactly one of limit_kg and limit_energy is set.
struct BudgetRecord {
  std::string account;
  std::string user;  // "" for the whole account
  int year = 0;
  std::optional<KgCo2> limit_kg;
  std::optional<Microjoules> limit_energy;  // `--limit-kwh`
  policy::Policy policy = policy::Policy::kWarn;
  policy::WarnThreshold warn_at;
  std::string updated_at;  // ISO-8601 UTC; set by the store
  std::string updated_by;  // user name; set by the store from set_budget's WHO

  bool operator==(const BudgetRecord&) const = default;
};

// Finished jobs' usage for one key and year.
struct Usage {
  KgCo2 co2;
  Microjoules energy;
  std::int64_t jobs = 0;  // jobs that started in the year

  bool operator==(const Usage&) const = default;
};

}  // namespace jobcarbon::ledger

namespace jobcarbon::ledger {

// Return the first problem with a budget that no backend may store ("account is empty", "year
// 0 is outside 1..9999", ...), or nullopt when it is valid.
std::optional<std::string> invalid_budget(const BudgetRecord& budget);

}  // namespace jobcarbon::ledger
