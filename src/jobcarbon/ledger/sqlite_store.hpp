// The SQLite ledger: one file, many writers (WAL mode, a busy timeout, every write one
// IMMEDIATE transaction), the schema brought up to date by numbered migrations when opened for
// writing. Opening an up-to-date ledger reads two header fields and nothing else, so it costs
// little beyond sqlite3_open (jobcarbon run's start-up budget is 5 ms in all).
#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>

#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::ledger {

struct SqliteOptions {
  // How long a writer waits for another writer's transaction (or a migration) to finish before
  // append() fails with "busy". Writes take well under a millisecond, so this is only reached
  // when a process holds the ledger stuck.
  std::chrono::milliseconds busy_timeout{10'000};
};

// Return a Store on the SQLite ledger at path. kReadWrite creates a missing file (not its
// directory) and applies pending migrations; kReadOnly changes nothing. Errors name the path and
// leave the file as it was: not an SQLite database or damaged, another program's database, a
// schema newer than this binary can use (both versions named), read-only for this user when
// kReadWrite, missing when kReadOnly.
std::expected<std::unique_ptr<Store>, std::string> open_sqlite_store(
    const std::filesystem::path& path, OpenMode mode, const SqliteOptions& options = {});

}  // namespace jobcarbon::ledger
