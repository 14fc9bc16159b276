// `jobcarbon report`: usage grouped by account, user, month, ISO week or node, as a table, CSV or
// JSON. The grouping is the ledger's (SQL); the rendering is ledger::render_report.
#pragma once

#include <CLI/CLI.hpp>

namespace jobcarbon::cli {

// Register the `report` subcommand: report [--by account|user|month|week|node] [--since DATE]
// [--until DATE] [--account A] [--user U] [--format table|csv|json] [--ledger PATH|URL]
// [--config FILE]. Dates are YYYY-MM-DD in UTC, [since, until). The ledger is opened read-only.
void add_report_command(CLI::App& app);

}  // namespace jobcarbon::cli
