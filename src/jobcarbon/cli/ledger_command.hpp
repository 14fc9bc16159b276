// `jobcarbon ledger`: setting up and inspecting a ledger. `init` creates or migrates it (on
// PostgreSQL also the group roles, run once by the database owner) and sets the private-data
// setting; `status` says which backend, schema version and how many records and budgets. The
// work is ledger::init_ledger / ledger::ledger_status; this file only wires options.
#pragma once

#include <CLI/CLI.hpp>

namespace jobcarbon::cli {

// Register the `ledger` subcommand with
//   init [--private-data on|off]
//   status [--json]
// each with [--ledger PATH|URL] [--config FILE] (the ledger as every command resolves it).
void add_ledger_command(CLI::App& app);

}  // namespace jobcarbon::cli
