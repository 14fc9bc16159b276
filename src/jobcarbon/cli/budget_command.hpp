// `jobcarbon budget`: yearly CO2 (or energy) budgets in the ledger. set / show / check; the
// numbers and decisions come from ledger::check_budget and ledger::budget_status, the rules from
// policy/. Periods are calendar years in UTC (fiscal years: a later step).
#pragma once

#include <CLI/CLI.hpp>

namespace jobcarbon::cli {

// Register the `budget` subcommand with
//   set --account A [--user U] --year Y (--limit 1200kg | --limit-kwh N) [--policy warn|deny|stop]
//       [--warn-at 80%] [--parent P]
//   show [--account A] [--year Y] [--format table|csv|json]
//   check --account A [--user U] --estimate-kg X [--year Y] [--json]
// each with [--ledger PATH|URL] [--config FILE]. `check` sets EXIT_CODE to 0 allow, 1 warn,
// 2 deny, 3 cannot decide (the ledger is missing, unreadable or not a ledger). `show` and `check`
// open the ledger read-only; `set` creates or migrates it.
void add_budget_command(CLI::App& app, int& exit_code);

}  // namespace jobcarbon::cli
