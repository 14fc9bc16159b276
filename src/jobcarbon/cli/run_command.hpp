// `jobcarbon run [options] -- COMMAND...`: meter one command on this machine.
#pragma once

#include <CLI/CLI.hpp>

namespace jobcarbon::cli {

// Register the `run` subcommand. Its callback sets exit_code to the command's status (as a
// shell reports it), which main returns.
void add_run_command(CLI::App& app, int& exit_code);

}  // namespace jobcarbon::cli
