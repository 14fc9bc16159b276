// Bringing an open SQLite ledger's schema to a version this binary can use: check the file is a
// jobcarbon ledger, run the pending migrations (migrations.hpp) when it is older, refuse it when
// it is newer and declared incompatible. Internal to ledger/.
#pragma once

#include <chrono>
#include <expected>
#include <string>

#include <jobcarbon/ledger/sqlite_connection.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::ledger {

// Return the schema version of the ledger open in db, ready for use. An up-to-date ledger costs
// two header reads and nothing else. kReadWrite migrates an older or new (empty) ledger, each
// migration run once even when several processes open it at the same time; kReadOnly refuses
// one that needs migrating. Errors name the file and leave it unchanged: another program's
// database, a schema newer than this binary can use (both versions named), not a database.
std::expected<int, std::string> prepare_schema(SqliteConnection& db, OpenMode mode,
                                               std::chrono::milliseconds busy_timeout);

}  // namespace jobcarbon::ledger
