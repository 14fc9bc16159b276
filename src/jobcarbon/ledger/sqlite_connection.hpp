// A thin RAII layer over the SQLite C API for the SQLite ledger: a connection that names its file
// in every error, and prepared statements with typed binds and columns. Internal to ledger/.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace jobcarbon::ledger {

class SqliteStatement {
 public:
  SqliteStatement() = default;
  explicit SqliteStatement(sqlite3_stmt* s) : stmt_(s) {}

  // Bind parameter i (1-based). Text is copied (SQLITE_TRANSIENT).
  void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_.get(), i, v); }
  void bind(int i, int v) { sqlite3_bind_int64(stmt_.get(), i, v); }
  void bind(int i, double v) { sqlite3_bind_double(stmt_.get(), i, v); }
  void bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }

  void bind_null(int i) { sqlite3_bind_null(stmt_.get(), i); }
  // Run one step: SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(stmt_.get()); }
  // Make the statement ready to run again with new binds.
  void reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }

  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  double real(int col) const { return sqlite3_column_double(stmt_.get(), col); }
  // Return the text of a column, "" for NULL.
  std::string text(int col) const;
  bool is_null(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }

  explicit operator bool() const { return stmt_ != nullptr; }

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, Finalize> stmt_;
};

// A statement from SqliteConnection::cached: used like a SqliteStatement (->), and reset (with its
// binds cleared) when it goes out of scope, so that it never holds a read transaction open.
class CachedStatement {
 public:
  explicit CachedStatement(SqliteStatement* s) : s_(s) {}
  CachedStatement(const CachedStatement&) = delete;
  CachedStatement& operator=(const CachedStatement&) = delete;
  CachedStatement(CachedStatement&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  ~CachedStatement() {
    if (s_) s_->reset();
  }
  SqliteStatement* operator->() const { return s_; }
  SqliteStatement& operator*() const { return *s_; }

 private:
  SqliteStatement* s_;
};

class SqliteConnection {
 public:
  // Open the file (flags as sqlite3_open_v2's). Error: "<path>: <why>". With uri (and
  // SQLITE_OPEN_URI in flags), open that "file:..." URI instead; messages still name path.
  static std::expected<SqliteConnection, std::string> open(const std::filesystem::path& path,
                                                           int flags, const std::string& uri = "");

  // Run statements that return no rows we need. Error: "<path>: <why>".
  std::expected<void, std::string> exec(const char* sql);
  // Prepare one statement. Error: "<path>: <why>".
  std::expected<SqliteStatement, std::string> prepare(std::string_view sql);
  // Return the statement for SQL, prepared once per connection and kept: for the queries a
  // budget check repeats at every level (preparing them was a third of a check). Error as
  // prepare.
  std::expected<CachedStatement, std::string> cached(std::string_view sql);
  // Return the single integer a query returns (e.g. "PRAGMA user_version").
  std::expected<std::int64_t, std::string> query_int(std::string_view sql);

  // Return "<path>: <explanation of rc, with SQLite's own message>": the sentence every ledger
  // error is made of, saying what a user can do.
  std::string error(int rc) const;

  sqlite3* get() const { return db_.get(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Close> db_;
  std::filesystem::path path_;
  // Destroyed before db_ (members are destroyed in reverse order), so they finalize first.
  std::unordered_map<std::string, std::unique_ptr<SqliteStatement>> cache_;
};

}  // namespace jobcarbon::ledger
