#include <jobcarbon/ledger/sqlite_periods.hpp>

#include <fmt/format.h>

#include <jobcarbon/ledger/migrations.hpp>
#include <jobcarbon/ledger/sqlite_budgets.hpp>
#include <jobcarbon/ledger/usage_split.hpp>

namespace jobcarbon::ledger {
namespace {

std::string rollback_with(SqliteConnection& db, std::string message) {
  (void)db.exec("ROLLBACK");
  return message;
}

}  // namespace

std::expected<policy::YearStart, std::string> read_year_start(SqliteConnection& db) {
  auto cached = db.cached("SELECT value FROM settings WHERE key = 'budget_year_start'");
  if (!cached) return std::unexpected(cached.error());
  auto& stmt = *cached;
  const int rc = stmt->step();
  if (rc == SQLITE_DONE) return policy::YearStart{};
  if (rc != SQLITE_ROW) return std::unexpected(db.error(rc));
  auto from = parse_year_start(stmt->text(0));
  if (!from) return std::unexpected(fmt::format("sqlite:{}: {}", db.path().string(), from.error()));
  return *from;
}

std::expected<void, std::string> set_year_start(SqliteConnection& db, policy::YearStart from) {
  if (auto denied = budget_change_denied(db)) return std::unexpected(*denied);
  if (auto b = db.exec("BEGIN IMMEDIATE"); !b) return std::unexpected(b.error());
  auto put = db.prepare(
      "INSERT INTO settings (key, value) VALUES ('budget_year_start', ?1) "
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  if (!put) return std::unexpected(rollback_with(db, put.error()));
  put->bind(1, format_year_start(from));
  if (const int rc = put->step(); rc != SQLITE_DONE) {
    return std::unexpected(rollback_with(db, db.error(rc)));
  }
  // Binaries that split by calendar year must refuse a ledger with fiscal years.
  auto floor = db.prepare("UPDATE schema_migrations SET oldest_compatible = ?1 WHERE version = ?2");
  if (!floor) return std::unexpected(rollback_with(db, floor.error()));
  floor->bind(1, from == policy::YearStart{} ? 2 : kFiscalOldestCompatible);
  floor->bind(2, kBudgetYearMigration);
  if (const int rc = floor->step(); rc != SQLITE_DONE) {
    return std::unexpected(rollback_with(db, db.error(rc)));
  }
  // Every job again, split by the new periods, then the totals replaced in the same transaction.
  UsageTotals totals;
  auto jobs = db.prepare(
      "SELECT account, user_name, start_us, end_us, charged_uj, co2_kg FROM jobs ORDER BY id");
  if (!jobs) return std::unexpected(rollback_with(db, jobs.error()));
  int rc;
  while ((rc = jobs->step()) == SQLITE_ROW) {
    JobRecord j;
    j.account = jobs->text(0);
    j.user = jobs->text(1);
    j.start = Timestamp(std::chrono::microseconds(jobs->int64(2)));
    j.end = Timestamp(std::chrono::microseconds(jobs->int64(3)));
    j.energy_charged = Microjoules(jobs->int64(4));
    j.co2_kg = jobs->real(5);
    if (auto a = add_to_totals(totals, j, from); !a) {
      return std::unexpected(rollback_with(db, a.error()));
    }
  }
  if (rc != SQLITE_DONE) return std::unexpected(rollback_with(db, db.error(rc)));
  if (auto d = db.exec("DELETE FROM usage_totals"); !d) {
    return std::unexpected(rollback_with(db, d.error()));
  }
  auto ins = db.prepare(
      "INSERT INTO usage_totals (account, user_name, period_year, co2_kg, energy_uj, jobs) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!ins) return std::unexpected(rollback_with(db, ins.error()));
  for (const auto& [key, u] : totals) {
    ins->bind(1, std::get<0>(key));
    ins->bind(2, std::get<1>(key));
    ins->bind(3, std::get<2>(key));
    ins->bind(4, u.co2.value);
    ins->bind(5, u.energy.value);
    ins->bind(6, u.jobs);
    const int r = ins->step();
    ins->reset();
    if (r != SQLITE_DONE) return std::unexpected(rollback_with(db, db.error(r)));
  }
  if (auto c = db.exec("COMMIT"); !c) return std::unexpected(rollback_with(db, c.error()));
  return {};
}

}  // namespace jobcarbon::ledger
