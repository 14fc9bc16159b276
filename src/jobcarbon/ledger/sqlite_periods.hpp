// Budget periods in the SQLite ledger (migration 0005): the site's budget year start, and
// changing it, which rebuilds every running total from the jobs. Internal to ledger/.
#pragma once

#include <expected>
#include <string>

#include <jobcarbon/ledger/sqlite_connection.hpp>
#include <jobcarbon/policy/budget_period.hpp>

namespace jobcarbon::ledger {

// Return the ledger's budget year start (settings.budget_year_start; January 1 by default).
std::expected<policy::YearStart, std::string> read_year_start(SqliteConnection& db);

// See Store::set_budget_year_start. Runs its own IMMEDIATE transaction.
std::expected<void, std::string> set_year_start(SqliteConnection& db, policy::YearStart from);

}  // namespace jobcarbon::ledger
