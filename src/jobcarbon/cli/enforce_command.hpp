// `jobcarbon enforce`: the `stop` policy's enforcer, one per cluster on the controller host
// (issue #5, docs/slurm.md "Enforcing stop budgets"; deploy/systemd/jobcarbon-enforcer.service).
#pragma once

#include <CLI/CLI.hpp>

namespace jobcarbon::cli {

// Register `enforce [--once] [--interval S] [--grace S] [--signal NAME] [--state FILE]
// [--dry-run] [--ledger URL] [--config FILE]`.
void add_enforce_command(CLI::App& app);

}  // namespace jobcarbon::cli
