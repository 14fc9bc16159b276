// What the ledger's administrator asks of either backend: create or migrate a ledger (and, on
// PostgreSQL, its roles and the private-data setting) and say what state it is in. `jobcarbon
// ledger init/status` call these.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>

namespace jobcarbon::ledger {

struct LedgerStatus {
  std::string backend;               // "sqlite" or "postgresql"
  std::string ledger;                // as messages name it (Store::describe())
  int schema_version = 0;            // the ledger's
  int oldest_compatible = 0;         // the oldest jobcarbon schema version that may use it
  int known_version = 0;             // the newest this binary knows (latest_schema_version())
  std::int64_t records = 0;          // job records (a reader under private data counts its own)
  std::int64_t budgets = 0;          // budgets of every account and year
  std::optional<bool> private_data;  // PostgreSQL only: the site's private-data setting
};

// Create the ledger at URL or bring its schema up to date (on PostgreSQL also the group roles
// jobcarbon_admin, jobcarbon_writer and jobcarbon_reader); when PRIVATE_DATA is set, store it as
// the site's private-data setting (PostgreSQL only: error on SQLite, whose privacy is the file's
// permissions). Return the resulting status. Errors name the ledger; nothing is half-applied.
std::expected<LedgerStatus, std::string> init_ledger(const std::string& url,
                                                     std::optional<bool> private_data);

// Return the status of the ledger at URL without changing it. Error: no ledger there, one this
// binary cannot use, the backend's errors.
std::expected<LedgerStatus, std::string> ledger_status(const std::string& url);

}  // namespace jobcarbon::ledger
