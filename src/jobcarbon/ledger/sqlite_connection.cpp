#include <jobcarbon/ledger/sqlite_connection.hpp>

#include <fmt/format.h>

namespace jobcarbon::ledger {

std::string SqliteStatement::text(int col) const {
  const auto* p = sqlite3_column_text(stmt_.get(), col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), col)));
}

std::expected<SqliteConnection, std::string> SqliteConnection::open(
    const std::filesystem::path& path, int flags, const std::string& uri) {
  SqliteConnection c;
  c.path_ = path;
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(uri.empty() ? path.c_str() : uri.c_str(), &raw, flags, nullptr);
  c.db_.reset(raw);  // a handle comes back even on failure, and must be closed
  if (rc != SQLITE_OK) return std::unexpected(c.error(rc));
  sqlite3_extended_result_codes(raw, 1);
  return c;
}

std::expected<void, std::string> SqliteConnection::exec(const char* sql) {
  const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(error(rc));
  return {};
}

std::expected<SqliteStatement, std::string> SqliteConnection::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  const int rc =
      sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &s, nullptr);
  SqliteStatement stmt(s);
  if (rc != SQLITE_OK) return std::unexpected(error(rc));
  return stmt;
}

std::expected<CachedStatement, std::string> SqliteConnection::cached(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it == cache_.end()) {
    auto stmt = prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    it =
        cache_.emplace(std::string(sql), std::make_unique<SqliteStatement>(std::move(*stmt))).first;
  }
  return CachedStatement(it->second.get());
}

std::expected<std::int64_t, std::string> SqliteConnection::query_int(std::string_view sql) {
  auto stmt = prepare(sql);
  if (!stmt) return std::unexpected(stmt.error());
  const int rc = stmt->step();
  if (rc == SQLITE_ROW) return stmt->is_null(0) ? 0 : stmt->int64(0);
  if (rc == SQLITE_DONE) return 0;
  return std::unexpected(error(rc));
}

std::string SqliteConnection::error(int rc) const {
  const std::string sqlite_says = db_ ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(rc);
  const std::string p = path_.string();
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
      return fmt::format(
          "{}: not an SQLite database (another kind of file, or its header is damaged); "
          "nothing was changed",
          p);
    case SQLITE_CORRUPT:
      return fmt::format(
          "{}: the ledger is damaged (truncated or overwritten: {}); nothing was written. "
          "Check it with: sqlite3 '{}' 'PRAGMA integrity_check'",
          p, sqlite_says, p);
    case SQLITE_READONLY:
      return fmt::format(
          "{}: the ledger (or its directory, which must hold the -wal and -shm files) is "
          "read-only for this user; nothing was written ({})",
          p, sqlite_says);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return fmt::format(
          "{}: the ledger stayed locked by another process past the busy timeout; nothing was "
          "written ({})",
          p, sqlite_says);
    case SQLITE_CANTOPEN:
      return fmt::format(
          "{}: cannot open the ledger (missing directory, or no permission on the file or its "
          "directory) ({})",
          p, sqlite_says);
    case SQLITE_FULL:
      return fmt::format("{}: the disk is full; nothing was written ({})", p, sqlite_says);
    case SQLITE_IOERR:
      return fmt::format("{}: input/output error on the ledger ({})", p, sqlite_says);
    default:
      return fmt::format("{}: {}", p, sqlite_says);
  }
}

}  // namespace jobcarbon::ledger
