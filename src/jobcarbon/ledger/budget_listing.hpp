// Budgets' standing as `jobcarbon budget show` prints it: an aligned table, CSV or JSON. Pure
// functions of BudgetStatus rows, so tests check the exact text.
#pragma once

#include <span>
#include <string>

#include <jobcarbon/ledger/budget_check.hpp>
#include <jobcarbon/ledger/job_listing.hpp>

namespace jobcarbon::ledger {

// Return the rows in FORMAT. Columns: YEAR, ACCOUNT, USER ("" / "-" for the whole account), UNIT
// (kg or kWh), LIMIT, USED (finished jobs), RUNNING (running jobs so far), REMAINING, PERCENT,
// PROJECTED (to the end of the year at the rate so far), POLICY, WARN AT. CSV gives
// full-precision numbers and empty fields for "none"; JSON an array of objects with numbers or
// null. Table with no rows: "".
std::string render_budgets(std::span<const BudgetStatus> rows, ListingFormat format);

}  // namespace jobcarbon::ledger
