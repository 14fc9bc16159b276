// The ledger's schema as an ordered list of numbered migrations. A ledger at version N has had
// migrations 1..N applied (the pending ones together, in one transaction), each recorded in
// `schema_migrations`, and `PRAGMA user_version` = N. Policy (docs/ledger.md): migrations are
// additive (new tables, new columns with defaults, new indexes), never edited once released, so a
// binary one version behind can keep writing to a migrated ledger during a rolling upgrade.
#pragma once

#include <span>
#include <string_view>

namespace jobcarbon::ledger {

struct Migration {
  int version = 0;        // 1, 2, ...: position in the list
  std::string_view name;  // "0001_jobs": recorded in schema_migrations
  std::string_view sql;   // one or more statements, run inside the migration's transaction
  // The oldest schema version whose binaries may still read and write a ledger once this
  // migration is applied. An additive migration keeps the previous value; one that old writers
  // would get wrong (e.g. a total they would not maintain) raises it to its own version, and
  // older binaries then refuse the ledger instead of damaging it.
  int oldest_compatible = 1;
};

// Return the SQLite migrations in order; element i has version i + 1.
std::span<const Migration> sqlite_migrations();

// Return the newest schema version this binary knows (the last migration's version).
int latest_schema_version();

// A ledger whose budget year does not start on January 1 raises its migration 5's
// oldest_compatible to this, so binaries that split usage by calendar year refuse it (and back to
// 2 for 01-01).
inline constexpr int kFiscalOldestCompatible = 5;
inline constexpr int kBudgetYearMigration = 5;

// The SQLite application_id of a jobcarbon ledger ("JCBL"): tells our file from another
// program's SQLite database before anything is written to it.
inline constexpr int kApplicationId = 0x4A43424C;

}  // namespace jobcarbon::ledger
