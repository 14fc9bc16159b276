#include <jobcarbon/cli/ledger_command.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/cli/config_loading.hpp>
#include <jobcarbon/ledger/ledger_admin.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::cli {
namespace {

struct LedgerFlags {
  std::optional<std::string> ledger;
  std::string config;
  std::optional<std::string> private_data;  // "on" | "off"
  bool json = false;
};

std::string ledger_url(const LedgerFlags& f) {
  const Settings config = load_settings(f.config);
  auto url =
      ledger::resolve_ledger(f.ledger, config.ledger, ledger::LedgerEnvironment::from_process());
  if (!url) throw std::runtime_error(url.error());
  return *url;
}

void print_status(const ledger::LedgerStatus& s, bool json) {
  if (json) {
    nlohmann::json j{{"backend", s.backend},
                     {"ledger", s.ledger},
                     {"schema_version", s.schema_version},
                     {"oldest_compatible", s.oldest_compatible},
                     {"known_version", s.known_version},
                     {"records", s.records},
                     {"budgets", s.budgets}};
    j["private_data"] = s.private_data ? nlohmann::json(*s.private_data) : nlohmann::json(nullptr);
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("backend:           {}\n", s.backend);
  fmt::print("ledger:            {}\n", s.ledger);
  fmt::print("schema version:    {} (this jobcarbon knows up to {})\n", s.schema_version,
             s.known_version);
  fmt::print("oldest compatible: {}\n", s.oldest_compatible);
  fmt::print("records:           {}\n", s.records);
  fmt::print("budgets:           {}\n", s.budgets);
  if (s.private_data) fmt::print("private data:      {}\n", *s.private_data ? "on" : "off");
}

void add_common(CLI::App* cmd, LedgerFlags& f) {
  cmd->add_option("--ledger", f.ledger,
                  "Ledger path or URL (default $JOBCARBON_LEDGER, else the configuration's "
                  "ledger, else ~/.local/share/jobcarbon/ledger.db)");
  cmd->add_option("--config", f.config, "Read this configuration file instead of the defaults");
  cmd->add_flag("--json", f.json, "Print the status as JSON");
}

}  // namespace

void add_ledger_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("ledger", "Set up or inspect the ledger (SQLite or PostgreSQL)");
  cmd->require_subcommand(1);

  auto init = std::make_shared<LedgerFlags>();
  auto* i = cmd->add_subcommand(
      "init", "Create or migrate the ledger (PostgreSQL: also its roles; run once as the owner)");
  add_common(i, *init);
  i->add_option("--private-data", init->private_data,
                "PostgreSQL: on = readers see only their own jobs and their accounts' totals")
      ->check(CLI::IsMember({"on", "off"}));
  i->callback([init]() {
    std::optional<bool> private_data;
    if (init->private_data) private_data = *init->private_data == "on";
    auto status = ledger::init_ledger(ledger_url(*init), private_data);
    if (!status) throw std::runtime_error(status.error());
    print_status(*status, init->json);
  });

  auto status = std::make_shared<LedgerFlags>();
  auto* s = cmd->add_subcommand("status", "Backend, schema version, records and budgets");
  add_common(s, *status);
  s->callback([status]() {
    auto st = ledger::ledger_status(ledger_url(*status));
    if (!st) throw std::runtime_error(st.error());
    print_status(*st, status->json);
  });
}

}  // namespace jobcarbon::cli
