#include <jobcarbon/ledger/sqlite_running.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>

#include <fmt/format.h>

#include <jobcarbon/ledger/sqlite_periods.hpp>
#include <jobcarbon/ledger/usage_split.hpp>
#include <jobcarbon/policy/budget_period.hpp>

namespace jobcarbon::ledger {
namespace {

// Only rows whose job has no final record yet: a version-2 writer appends without deleting the
// provisional row, and the job must not count twice.
constexpr std::string_view kNotFinished = R"sql(
NOT EXISTS (SELECT 1 FROM jobs j WHERE j.cluster = r.cluster AND j.job_id = r.job_id
            AND j.submit_us = r.submit_us AND j.step = r.step AND j.node = r.node)
)sql";

constexpr std::string_view kUpsert = R"sql(
INSERT INTO running_jobs (cluster, job_id, submit_us, step, node, user_name, account, start_us,
  updated_us, charged_uj, co2_kg, gpu_count, gpu_model)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
ON CONFLICT (cluster, job_id, submit_us, step, node) DO UPDATE SET
  user_name = excluded.user_name, account = excluded.account, start_us = excluded.start_us,
  updated_us = excluded.updated_us, charged_uj = excluded.charged_uj, co2_kg = excluded.co2_kg,
  gpu_count = excluded.gpu_count, gpu_model = excluded.gpu_model
WHERE excluded.updated_us >= running_jobs.updated_us
)sql";

constexpr std::string_view kAddPower = R"sql(
INSERT INTO power_totals (device, model, energy_j, device_seconds, jobs)
VALUES (?1, ?2, ?3, ?4, 1)
ON CONFLICT (device, model) DO UPDATE SET
  energy_j = power_totals.energy_j + excluded.energy_j,
  device_seconds = power_totals.device_seconds + excluded.device_seconds,
  jobs = power_totals.jobs + 1
)sql";

std::string rollback_with(SqliteConnection& db, std::string message) {
  (void)db.exec("ROLLBACK");
  return message;
}

}  // namespace

std::expected<bool, std::string> update_running(SqliteConnection& db, const RunningRecord& r) {
  if (auto bad = invalid_running(r)) {
    return std::unexpected(fmt::format("sqlite:{}: {}", db.path().string(), *bad));
  }
  if (auto b = db.exec("BEGIN IMMEDIATE"); !b) return std::unexpected(b.error());
  auto finished = db.prepare(
      "SELECT 1 FROM jobs WHERE cluster = ?1 AND job_id = ?2 AND submit_us = ?3 AND step = ?4 "
      "AND node = ?5");
  if (!finished) return std::unexpected(rollback_with(db, finished.error()));
  finished->bind(1, r.cluster);
  finished->bind(2, r.job_id);
  finished->bind(3, to_us(r.submit_time));
  finished->bind(4, r.step);
  finished->bind(5, r.node);
  const int frc = finished->step();
  if (frc == SQLITE_ROW) {
    (void)db.exec("ROLLBACK");
    return false;  // the final record is there: provisional usage would count it twice
  }
  if (frc != SQLITE_DONE) return std::unexpected(rollback_with(db, db.error(frc)));
  auto stmt = db.prepare(kUpsert);
  if (!stmt) return std::unexpected(rollback_with(db, stmt.error()));
  int i = 1;
  stmt->bind(i++, r.cluster);
  stmt->bind(i++, r.job_id);
  stmt->bind(i++, to_us(r.submit_time));
  stmt->bind(i++, r.step);
  stmt->bind(i++, r.node);
  stmt->bind(i++, r.user);
  stmt->bind(i++, r.account);
  stmt->bind(i++, to_us(r.start));
  stmt->bind(i++, to_us(r.updated));
  stmt->bind(i++, r.energy_charged.value);
  stmt->bind(i++, r.co2_kg);
  stmt->bind(i++, r.gpu_count);
  stmt->bind(i++, r.gpu_model);
  if (const int rc = stmt->step(); rc != SQLITE_DONE) {
    return std::unexpected(rollback_with(db, db.error(rc)));
  }
  if (auto c = db.exec("COMMIT"); !c) return std::unexpected(rollback_with(db, c.error()));
  return true;
}

std::expected<std::vector<RunningRecord>, std::string> list_running(SqliteConnection& db,
                                                                    const JobFilter& f) {
  std::string sql =
      "SELECT cluster, job_id, submit_us, step, node, user_name, account, start_us, updated_us, "
      "charged_uj, co2_kg, gpu_count, gpu_model FROM running_jobs r WHERE " +
      std::string(kNotFinished);
  if (f.account) sql += " AND account = ?1";
  if (f.user) sql += " AND user_name = ?2";
  sql += " ORDER BY start_us DESC, cluster, job_id, node, step";
  if (f.last) sql += " LIMIT ?3";
  auto stmt = db.prepare(sql);
  if (!stmt) return std::unexpected(stmt.error());
  if (f.account) stmt->bind(1, *f.account);
  if (f.user) stmt->bind(2, *f.user);
  if (f.last) {
    stmt->bind(3, static_cast<std::int64_t>(std::min<std::size_t>(*f.last, INT64_MAX)));
  }
  std::vector<RunningRecord> out;
  int rc;
  while ((rc = stmt->step()) == SQLITE_ROW) {
    RunningRecord r;
    int c = 0;
    r.cluster = stmt->text(c++);
    r.job_id = stmt->text(c++);
    r.submit_time = from_us(stmt->int64(c++));
    r.step = stmt->text(c++);
    r.node = stmt->text(c++);
    r.user = stmt->text(c++);
    r.account = stmt->text(c++);
    r.start = from_us(stmt->int64(c++));
    r.updated = from_us(stmt->int64(c++));
    r.energy_charged = Microjoules(stmt->int64(c++));
    r.co2_kg = stmt->real(c++);
    r.gpu_count = static_cast<int>(stmt->int64(c++));
    r.gpu_model = stmt->text(c++);
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return std::unexpected(db.error(rc));
  return out;
}

std::expected<Usage, std::string> running_usage(SqliteConnection& db, const std::string& account,
                                                const std::string& user, int year) {
  using std::chrono::system_clock;
  auto from = read_year_start(db);
  if (!from) return std::unexpected(from.error());
  const auto period = policy::period_for_year(year, *from);
  const auto y0 = std::chrono::floor<std::chrono::microseconds>(period.start).time_since_epoch();
  const auto y1 = std::chrono::floor<std::chrono::microseconds>(period.end).time_since_epoch();
  // No look-up of the final record per row here (it doubled a budget check with thousands of
  // running jobs): the append that writes a job's final record deletes its row in the same
  // transaction, and only agents of schema 3 or later write running rows, for jobs whose final
  // records they write themselves. Each row's part in [y0, y1) in proportion to time; a row with no
  // duration yet (start == updated) belongs wholly to the period holding its start. Integer energy:
  // rounded down.
  const std::string sql = R"sql(
WITH RECURSIVE subtree(account) AS (
  SELECT ?1 UNION SELECT p.account FROM account_parents p JOIN subtree s ON p.parent = s.account),
parts AS (
  SELECT charged_uj, co2_kg, start_us,
    CASE WHEN updated_us = start_us THEN (CASE WHEN start_us >= ?4 AND start_us < ?5 THEN 1.0
                                              ELSE 0.0 END)
         ELSE max(0, min(updated_us, ?5) - max(start_us, ?4)) * 1.0 / (updated_us - start_us)
    END AS share
  FROM running_jobs r
  WHERE account IN (SELECT account FROM subtree) AND (?2 = '' OR user_name = ?2)
    AND start_us < ?5 AND updated_us >= ?4)
SELECT coalesce(sum(co2_kg * share), 0),
       coalesce(sum(CAST(charged_uj * share AS INTEGER)), 0),
       coalesce(sum(start_us >= ?4), 0)
FROM parts WHERE share > 0 OR (start_us >= ?4 AND start_us < ?5)
)sql";
  auto cached = db.cached(sql);
  if (!cached) return std::unexpected(cached.error());
  auto& stmt = *cached;
  stmt->bind(1, account);
  stmt->bind(2, user);
  stmt->bind(4, static_cast<std::int64_t>(y0.count()));
  stmt->bind(5, static_cast<std::int64_t>(y1.count()));
  const int rc = stmt->step();
  if (rc != SQLITE_ROW) return std::unexpected(db.error(rc));
  return Usage{KgCo2{stmt->real(0)}, Microjoules(stmt->int64(1)), stmt->int64(2)};
}

std::expected<void, std::string> finish_running(SqliteConnection& db, const JobRecord& job) {
  auto del = db.prepare(
      "DELETE FROM running_jobs WHERE cluster = ?1 AND job_id = ?2 AND submit_us = ?3 AND "
      "step = ?4 AND node = ?5");
  if (!del) return std::unexpected(del.error());
  del->bind(1, job.cluster);
  del->bind(2, job.job_id);
  del->bind(3, to_us(job.submit_time));
  del->bind(4, job.step);
  del->bind(5, job.node);
  if (const int rc = del->step(); rc != SQLITE_DONE) return std::unexpected(db.error(rc));

  auto add = db.prepare(kAddPower);
  if (!add) return std::unexpected(add.error());
  for (const auto& d : power_deltas(job)) {
    add->bind(1, d.device);
    add->bind(2, d.model);
    add->bind(3, d.joules);
    add->bind(4, d.device_seconds);
    const int rc = add->step();
    add->reset();
    if (rc != SQLITE_DONE) return std::unexpected(db.error(rc));
  }
  return {};
}

std::expected<TypicalPower, std::string> typical_power(SqliteConnection& db,
                                                       const std::string& gpu_model) {
  auto cached = db.cached(
      "SELECT device, sum(energy_j), sum(device_seconds), sum(jobs) FROM power_totals "
      "WHERE (device = 'gpu' AND (?1 = '' OR model = ?1)) OR device = 'cpu' GROUP BY device");
  if (!cached) return std::unexpected(cached.error());
  auto& stmt = *cached;
  stmt->bind(1, gpu_model);
  TypicalPower out;
  int rc;
  while ((rc = stmt->step()) == SQLITE_ROW) {
    const double seconds = stmt->real(2);
    if (!(seconds > 0)) continue;
    const double watts = stmt->real(1) / seconds;
    if (stmt->text(0) == "gpu") {
      out.gpu_watts = watts;
      out.gpu_jobs = stmt->int64(3);
    } else {
      out.cpu_watts = watts;
      out.cpu_jobs = stmt->int64(3);
    }
  }
  if (rc != SQLITE_DONE) return std::unexpected(db.error(rc));
  return out;
}

}  // namespace jobcarbon::ledger
