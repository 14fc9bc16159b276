// jobcarbon: the command-line front end. Parses arguments and hands each subcommand to its own
// file under cli/; holds no logic of its own.
#include <exception>

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <jobcarbon/cli/budget_command.hpp>
#include <jobcarbon/cli/enforce_command.hpp>
#include <jobcarbon/cli/intensity_command.hpp>
#include <jobcarbon/cli/jobs_command.hpp>
#include <jobcarbon/cli/ledger_command.hpp>
#include <jobcarbon/cli/report_command.hpp>
#include <jobcarbon/cli/run_command.hpp>
#include <jobcarbon/cli/sensors_command.hpp>
#include <jobcarbon/cli/show_command.hpp>
#include <jobcarbon/cli/slurm_event_command.hpp>
#include <jobcarbon/cli/status_command.hpp>
#include <jobcarbon/os/child_process.hpp>

int main(int argc, char** argv) {
  // Before anything else (and before any thread): supervised signals wait in a signalfd instead of
  // killing jobcarbon while it reports on a command.
  (void)jobcarbon::os::block_supervised_signals();

  CLI::App app{"jobcarbon: energy and CO2 of AI training jobs", "jobcarbon"};
  app.set_version_flag("--version", JOBCARBON_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  jobcarbon::cli::add_run_command(app, exit_code);
  jobcarbon::cli::add_sensors_command(app);
  jobcarbon::cli::add_intensity_command(app);
  jobcarbon::cli::add_jobs_command(app);
  jobcarbon::cli::add_budget_command(app, exit_code);
  jobcarbon::cli::add_report_command(app);
  jobcarbon::cli::add_show_command(app);
  jobcarbon::cli::add_status_command(app);
  jobcarbon::cli::add_slurm_event_command(app);
  jobcarbon::cli::add_enforce_command(app);
  jobcarbon::cli::add_ledger_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    fmt::print(stderr, "jobcarbon: error: {}\n", e.what());
    return 2;
  }
  return exit_code;
}
