#include <jobcarbon/cli/report_command.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/core.h>

#include <jobcarbon/carbon/equivalents.hpp>
#include <jobcarbon/cli/config_loading.hpp>
#include <jobcarbon/ledger/report_listing.hpp>
#include <jobcarbon/ledger/report_query.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::cli {
namespace {

struct ReportFlags {
  std::optional<std::string> ledger;
  std::string config;
  std::string by = "account";
  std::optional<std::string> since;
  std::optional<std::string> until;
  std::optional<std::string> account;
  std::optional<std::string> user;
  std::string format = "table";
};

// The household-days factor from the embedded equivalents table (one source of truth).
ledger::HouseholdFactor household_factor() {
  auto table = carbon::EquivalentsTable::load_embedded();
  if (!table) throw std::runtime_error(table.error());
  for (const auto& f : table->factors()) {
    if (f.key == "household_days") return {f.factor, f.source};
  }
  throw std::runtime_error("the equivalents table has no household_days factor");
}

std::optional<ledger::Timestamp> date_flag(std::string_view flag,
                                           const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  auto t = ledger::parse_report_date(flag, *text);
  if (!t) throw std::runtime_error(t.error());
  return *t;
}

void report(const ReportFlags& flags) {
  ledger::ReportQuery query;
  const auto by = ledger::parse_report_by(flags.by);
  if (!by) throw std::runtime_error(by.error());
  query.by = by->first;
  query.tag_key = by->second;
  query.since = date_flag("--since", flags.since);
  query.until = date_flag("--until", flags.until);
  query.account = flags.account;
  query.user = flags.user;
  const auto format = *ledger::parse_listing_format(flags.format);

  const Settings config = load_settings(flags.config);
  const auto url = ledger::resolve_ledger(flags.ledger, config.ledger,
                                          ledger::LedgerEnvironment::from_process());
  if (!url) throw std::runtime_error(url.error());
  auto store = ledger::open_store(*url, ledger::OpenMode::kReadOnly);
  if (!store) throw std::runtime_error(store.error());
  auto rows = (*store)->report_rows(query);
  if (!rows) throw std::runtime_error(rows.error());
  if (query.by == ledger::Grouping::kAccount) {
    if (auto b = ledger::attach_budget_percents(**store, *rows); !b) {
      throw std::runtime_error(b.error());
    }
  }
  if (rows->empty() && format == ledger::ListingFormat::kTable) {
    fmt::print(stderr, "jobcarbon: no recorded runs match in {}\n", (*store)->describe());
  }
  fmt::print("{}", ledger::render_report(*rows, query.by, format, household_factor()));
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto flags = std::make_shared<ReportFlags>();
  auto* cmd = app.add_subcommand(
      "report", "Usage grouped by account, user, month, week, node, GPU model or a tag");
  cmd->add_option("--by", flags->by,
                  "account (default), user, month, week (ISO), node, gpu-model, or tag:KEY (the "
                  "values of one --tag key)");
  cmd->add_option("--since", flags->since,
                  "Only runs that started on or after DATE (YYYY-MM-DD, UTC)");
  cmd->add_option("--until", flags->until, "Only runs that started before DATE (YYYY-MM-DD, UTC)");
  cmd->add_option("--account", flags->account, "Only runs charged to this account");
  cmd->add_option("--user", flags->user, "Only runs of this user");
  cmd->add_option("--format", flags->format, "table (default), csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}));
  cmd->add_option("--ledger", flags->ledger,
                  "Ledger path or URL (default $JOBCARBON_LEDGER, else the configuration's "
                  "ledger, else the default path)");
  cmd->add_option("--config", flags->config,
                  "Read this configuration file instead of the defaults");
  cmd->callback([flags]() { report(*flags); });
}

}  // namespace jobcarbon::cli
