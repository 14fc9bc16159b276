// `jobcarbon jobs`: the runs recorded in the ledger, newest first, as a table, CSV or JSON.
// The rendering is ledger::render_jobs (pure, tested there); this file only wires options.
#pragma once

#include <CLI/CLI.hpp>

namespace jobcarbon::cli {

// Register the `jobs` subcommand: jobs [--ledger PATH|URL] [--config FILE] [--account A]
// [--user U] [--last N] [--format table|csv|json]. The ledger is the --ledger flag, else
// $JOBCARBON_LEDGER, else the configuration's `ledger`, else the default path. The ledger is
// opened read-only: listing never creates, migrates or changes it.
void add_jobs_command(CLI::App& app);

}  // namespace jobcarbon::cli
