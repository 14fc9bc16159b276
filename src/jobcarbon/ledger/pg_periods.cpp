#include <jobcarbon/ledger/pg_periods.hpp>

#include <cstdint>

#include <fmt/format.h>

#include <jobcarbon/ledger/migrations.hpp>
#include <jobcarbon/ledger/usage_split.hpp>

namespace jobcarbon::ledger {
namespace {

// Jobs are read in slices of this many rows, so a million-job ledger is not held in memory.
constexpr std::int64_t kSlice = 50'000;

std::string explain(const PgConnection& db, const PgError& e) {
  if (e.sqlstate != "42501") return e.message;
  return fmt::format(
      "{}: role '{}' may not change the budget year ({}): that is for members of "
      "jobcarbon_admin (GRANT jobcarbon_admin TO \"{}\"). Nothing was changed",
      db.describe(), db.user(), e.message.substr(db.describe().size() + 2), db.user());
}

}  // namespace

std::expected<policy::YearStart, std::string> pg_read_year_start(PgConnection& db) {
  auto row =
      db.exec_cached("SELECT value FROM settings WHERE key = 'budget_year_start'", PgParams());
  if (!row) return std::unexpected(row.error().message);
  if (row->rows() == 0) return policy::YearStart{};
  auto from = parse_year_start(row->text(0, 0));
  if (!from) return std::unexpected(fmt::format("{}: {}", db.describe(), from.error()));
  return *from;
}

std::expected<void, std::string> pg_set_year_start(PgConnection& db, policy::YearStart from) {
  auto fail = [&db](const PgError& e) -> std::expected<void, std::string> {
    if (!e.connection_lost && db.in_transaction()) (void)db.exec("ROLLBACK");
    return std::unexpected(explain(db, e));
  };
  if (auto b = db.exec("BEGIN"); !b) return fail(b.error());
  // Taken first: appends that start after this wait, and see the new start (they read it).
  auto put = db.exec(
      "INSERT INTO settings (key, value) VALUES ('budget_year_start', $1) "
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      PgParams().add(format_year_start(from)));
  if (!put) return fail(put.error());
  // Binaries that split by calendar year must refuse a ledger with fiscal years.
  auto floor = db.exec("UPDATE schema_migrations SET oldest_compatible = $1 WHERE version = $2",
                       PgParams()
                           .add(from == policy::YearStart{} ? 2 : kFiscalOldestCompatible)
                           .add(kBudgetYearMigration));
  if (!floor) return fail(floor.error());
  if (auto lock = db.exec("LOCK TABLE usage_totals IN EXCLUSIVE MODE"); !lock) {
    return fail(lock.error());
  }
  UsageTotals totals;
  for (std::int64_t after = 0;;) {
    auto rows = db.exec(
        "SELECT id, account, user_name, start_us, end_us, charged_uj, co2_kg FROM jobs "
        "WHERE id > $1 ORDER BY id LIMIT $2",
        PgParams().add(after).add(kSlice));
    if (!rows) return fail(rows.error());
    for (int i = 0; i < rows->rows(); ++i) {
      JobRecord j;
      after = rows->int64(i, 0);
      j.account = rows->text(i, 1);
      j.user = rows->text(i, 2);
      j.start = Timestamp(std::chrono::microseconds(rows->int64(i, 3)));
      j.end = Timestamp(std::chrono::microseconds(rows->int64(i, 4)));
      j.energy_charged = Microjoules(rows->int64(i, 5));
      j.co2_kg = rows->real(i, 6);
      if (auto a = add_to_totals(totals, j, from); !a) {
        (void)db.exec("ROLLBACK");
        return std::unexpected(fmt::format("{}: {}", db.describe(), a.error()));
      }
    }
    if (rows->rows() < kSlice) break;
  }
  if (auto d = db.exec("DELETE FROM usage_totals"); !d) return fail(d.error());
  for (const auto& [key, u] : totals) {
    auto ins = db.exec(
        "INSERT INTO usage_totals (account, user_name, period_year, co2_kg, energy_uj, jobs) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        PgParams()
            .add(std::get<0>(key))
            .add(std::get<1>(key))
            .add(std::get<2>(key))
            .add(u.co2.value)
            .add(u.energy.value)
            .add(u.jobs));
    if (!ins) return fail(ins.error());
  }
  if (auto c = db.exec("COMMIT"); !c) return fail(c.error());
  return {};
}

}  // namespace jobcarbon::ledger
