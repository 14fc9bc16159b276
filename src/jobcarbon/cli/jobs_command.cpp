#include <jobcarbon/cli/jobs_command.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/core.h>

#include <jobcarbon/cli/config_loading.hpp>
#include <jobcarbon/ledger/job_listing.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::cli {
namespace {

struct JobsFlags {
  std::optional<std::string> ledger;
  std::string config;
  std::optional<std::string> account;
  std::optional<std::string> user;
  std::optional<std::size_t> last;
  std::string format = "table";
  bool running = false;
};

// `jobs --running`: running jobs' provisional usage, written by node agents.
void list_running(ledger::Store& store, const JobsFlags& flags, ledger::ListingFormat format) {
  ledger::JobFilter filter;
  filter.account = flags.account;
  filter.user = flags.user;
  filter.last = flags.last;
  auto jobs = store.list_running(filter);
  if (!jobs) throw std::runtime_error(jobs.error());
  if (jobs->empty() && format == ledger::ListingFormat::kTable) {
    fmt::print(stderr, "jobcarbon: no running jobs{} in {}\n",
               flags.account || flags.user ? " match" : "", store.describe());
  }
  const auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  fmt::print("{}", ledger::render_running(*jobs, format, now));
}

void list_jobs(const JobsFlags& flags) {
  const Settings config = load_settings(flags.config);
  const auto url = ledger::resolve_ledger(flags.ledger, config.ledger,
                                          ledger::LedgerEnvironment::from_process());
  if (!url) throw std::runtime_error(url.error());
  const auto format = *ledger::parse_listing_format(flags.format);  // checked by CLI11

  // No ledger yet is not an error: nothing has been recorded. Scripts still get a CSV header or
  // an empty JSON array; people get a note on stderr.
  const auto where = ledger::parse_ledger_url(*url);
  if (where && where->backend == ledger::LedgerLocation::Backend::kSqlite &&
      !std::filesystem::exists(where->path)) {
    fmt::print(stderr, "jobcarbon: no ledger at {} yet: no runs recorded\n", where->path.string());
    fmt::print("{}", flags.running ? ledger::render_running({}, format, {})
                                   : ledger::render_jobs({}, format));
    return;
  }
  auto store = ledger::open_store(*url, ledger::OpenMode::kReadOnly);
  if (!store) throw std::runtime_error(store.error());
  if (flags.running) return list_running(**store, flags, format);
  ledger::JobFilter filter;
  filter.account = flags.account;
  filter.user = flags.user;
  filter.last = flags.last;
  auto jobs = (*store)->list_jobs(filter);
  if (!jobs) throw std::runtime_error(jobs.error());
  if (jobs->empty() && format == ledger::ListingFormat::kTable) {
    const bool filtered = flags.account || flags.user || flags.last;
    fmt::print(stderr, "jobcarbon: {} in {}\n",
               filtered ? "no recorded runs match" : "no runs recorded yet", (*store)->describe());
  }
  fmt::print("{}", ledger::render_jobs(*jobs, format));
}

}  // namespace

void add_jobs_command(CLI::App& app) {
  auto flags = std::make_shared<JobsFlags>();
  auto* cmd = app.add_subcommand("jobs", "List the runs recorded in the ledger, newest first");
  cmd->add_option("--ledger", flags->ledger,
                  "Ledger path or URL (default $JOBCARBON_LEDGER, else the configuration's "
                  "ledger, else $XDG_DATA_HOME/jobcarbon/ledger.db or "
                  "~/.local/share/jobcarbon/ledger.db)");
  cmd->add_option("--config", flags->config,
                  "Read this configuration file instead of the defaults");
  cmd->add_option("--account", flags->account, "Only runs charged to this account");
  cmd->add_option("--user", flags->user, "Only runs of this user");
  cmd->add_option("--last", flags->last, "Only the newest N runs")
      ->check(CLI::Validator(
          [](const std::string& v) -> std::string {
            const bool digits = !v.empty() && v.size() <= 18 &&
                                v.find_first_not_of("0123456789") == std::string::npos;
            return digits ? "" : "expected a whole number of runs (0 or more), got '" + v + "'";
          },
          "N"));
  cmd->add_option("--format", flags->format, "table (default), csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}));
  cmd->add_flag("--running", flags->running,
                "List running jobs with their usage so far (reported by node agents) instead");
  cmd->callback([flags]() { list_jobs(*flags); });
}

}  // namespace jobcarbon::cli
