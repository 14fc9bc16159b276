// `jobcarbon show JOB`: every record of one job with its per-node breakdown and totals.
#pragma once

#include <CLI/CLI.hpp>

namespace jobcarbon::cli {

// Register the `show` subcommand: show JOB [--ledger PATH|URL] [--config FILE] [--json]. An
// unknown job id prints an error naming it and exits with status 1.
void add_show_command(CLI::App& app);

}  // namespace jobcarbon::cli
