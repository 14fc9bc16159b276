// Budget periods in the PostgreSQL ledger (migration 0005), as sqlite_periods.hpp. Internal to
// ledger/.
#pragma once

#include <expected>
#include <string>

#include <jobcarbon/ledger/pg_connection.hpp>
#include <jobcarbon/policy/budget_period.hpp>

namespace jobcarbon::ledger {

// Return the ledger's budget year start (settings.budget_year_start; January 1 by default).
std::expected<policy::YearStart, std::string> pg_read_year_start(PgConnection& db);

// See Store::set_budget_year_start: members of jobcarbon_admin only (the server refuses others).
std::expected<void, std::string> pg_set_year_start(PgConnection& db, policy::YearStart from);

}  // namespace jobcarbon::ledger
