#include <jobcarbon/cli/show_command.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/core.h>

#include <jobcarbon/cli/config_loading.hpp>
#include <jobcarbon/ledger/job_detail.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::cli {
namespace {

struct ShowFlags {
  std::string job;
  std::optional<std::string> ledger;
  std::string config;
  bool json = false;
};

void show_job(const ShowFlags& flags) {
  const Settings config = load_settings(flags.config);
  const auto url = ledger::resolve_ledger(flags.ledger, config.ledger,
                                          ledger::LedgerEnvironment::from_process());
  if (!url) throw std::runtime_error(url.error());
  auto store = ledger::open_store(*url, ledger::OpenMode::kReadOnly);
  if (!store) throw std::runtime_error(store.error());
  auto records = (*store)->job_records(flags.job);
  if (!records) throw std::runtime_error(records.error());
  // The job's Slurm steps: shares of its records, shown under them, never added to its totals.
  auto steps = (*store)->job_steps(flags.job);
  if (!steps) throw std::runtime_error(steps.error());
  if (records->empty() && steps->empty()) {
    fmt::print(stderr, "jobcarbon: error: no job '{}' in {}\n", flags.job, (*store)->describe());
    throw CLI::RuntimeError(1);
  }
  fmt::print("{}", flags.json ? ledger::render_job_detail_json(*records, *steps)
                              : ledger::render_job_detail(*records, *steps));
}

}  // namespace

void add_show_command(CLI::App& app) {
  auto flags = std::make_shared<ShowFlags>();
  auto* cmd = app.add_subcommand("show", "Show one job's records per node, its steps, and totals");
  cmd->add_option("JOB", flags->job, "The job id (as `jobcarbon jobs` lists it)")->required();
  cmd->add_option("--ledger", flags->ledger,
                  "Ledger path or URL (default $JOBCARBON_LEDGER, else the configuration's "
                  "ledger, else the default path)");
  cmd->add_option("--config", flags->config,
                  "Read this configuration file instead of the defaults");
  cmd->add_flag("--json", flags->json,
                "Print the stored report JSON of each record and step, and totals");
  cmd->callback([flags]() { show_job(*flags); });
}

}  // namespace jobcarbon::cli
