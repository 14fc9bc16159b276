// The ledger benchmark's comparison points on SQLite, written against the bare SQLite C API so
// that they share nothing with the Store: the same rows inserted into a plain table (no key, no
// index, no tags, no running totals), `budget check`'s answer computed by summing the jobs table
// instead of reading the totals, and the scan that any report by account must at least make.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <jobcarbon/ledger/job_record.hpp>
#include <jobcarbon/policy/budget_policy.hpp>

#include "ledger_records.hpp"

namespace jobcarbon::bench {

// A prepared statement; binds are cleared by reset().
class RawStatement {
 public:
  RawStatement() = default;
  explicit RawStatement(sqlite3_stmt* s) : stmt_(s) {}
  void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_.get(), i, v); }
  void bind(int i, double v) { sqlite3_bind_double(stmt_.get(), i, v); }
  void bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  int step() { return sqlite3_step(stmt_.get()); }
  void reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }
  sqlite3_stmt* get() const { return stmt_.get(); }

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, Finalize> stmt_;
};

// A bare connection. Errors name the file and carry SQLite's message.
class RawDatabase {
 public:
  // Open PATH read-only, or read-write (created when missing) with the ledger's own settings:
  // WAL journal, synchronous=NORMAL.
  static std::expected<RawDatabase, std::string> open(const std::filesystem::path& path,
                                                      bool read_only);
  std::expected<void, std::string> exec(const std::string& sql);
  std::expected<RawStatement, std::string> prepare(std::string_view sql);
  // Return "PATH: SQLite's message for RC".
  std::string error(int rc) const;
  sqlite3* get() const { return db_.get(); }

 private:
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Close> db_;
  std::filesystem::path path_;
};

// Insert STREAM's records into a plain table (the ledger's jobs columns, no key, no index, no
// tags, no running totals) of a new database at PATH, ROWS_PER_TRANSACTION rows per
// transaction. Return the time of each transaction's rows: binds, steps and the commit (making
// the records is not timed), one entry per transaction.
std::expected<std::vector<std::chrono::nanoseconds>, std::string> raw_insert(
    const std::filesystem::path& path, RecordStream& stream, std::size_t rows_per_transaction);

// check_budget's decision computed from history: the same levels (the account's budget chain,
// the user's own budget first when there is one), each level's usage summed over the jobs table
// (the account's subtree, the year's start times) instead of read from the running totals.
// Running jobs' provisional usage is read as the Store reads it. Statements are prepared once. Jobs
// that span New Year count wholly in their start year here (the totals split them by time), so the
// two can differ by those jobs' share.
class HistoryCheck {
 public:
  static std::expected<HistoryCheck, std::string> open(const std::filesystem::path& ledger);
  std::expected<policy::Verdict, std::string> check(const std::string& account,
                                                    const std::string& user, KgCo2 estimate,
                                                    int year);

 private:
  // Return the finished jobs' CO2 (summed from history) and the running jobs' (as the Store
  // reads it) for ACCOUNT's subtree, USER's jobs only unless "", in YEAR.
  std::expected<std::pair<double, double>, std::string> sum(const std::string& account,
                                                            const std::string& user, int year);
  RawDatabase db_;
  RawStatement parent_, budgets_, sum_, running_;
};

// Run the smallest scan a yearly report by account needs: per account, count and sum of CO2
// over the records that started in [SINCE, UNTIL) (ALL_COLUMNS: also every other sum of the
// report, without its count of distinct jobs). Return the number of groups.
std::expected<std::size_t, std::string> raw_report(RawDatabase& db, ledger::Timestamp since,
                                                   ledger::Timestamp until, bool all_columns);

}  // namespace jobcarbon::bench
