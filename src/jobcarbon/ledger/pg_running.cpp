#include <jobcarbon/ledger/pg_running.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>

#include <fmt/format.h>

#include <jobcarbon/ledger/pg_periods.hpp>
#include <jobcarbon/policy/budget_period.hpp>

namespace jobcarbon::ledger {
namespace {

// As on SQLite: a row whose job has a final record is not counted (see sqlite_running.cpp).
constexpr std::string_view kNotFinished = R"sql(
NOT EXISTS (SELECT 1 FROM jobs j WHERE j.cluster = r.cluster AND j.job_id = r.job_id
            AND j.submit_us = r.submit_us AND j.step = r.step AND j.node = r.node)
)sql";

constexpr std::string_view kUpsert = R"sql(
INSERT INTO running_jobs AS rj (cluster, job_id, submit_us, step, node, user_name, account,
  start_us, updated_us, charged_uj, co2_kg, gpu_count, gpu_model)
SELECT $1::text, $2::text, $3::bigint, $4::text, $5::text, $6::text, $7::text, $8::bigint,
  $9::bigint, $10::bigint, $11::float8, $12::integer, $13::text
WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.cluster = $1::text AND j.job_id = $2::text
                  AND j.submit_us = $3::bigint AND j.step = $4::text AND j.node = $5::text)
ON CONFLICT (cluster, job_id, submit_us, step, node) DO UPDATE SET
  user_name = excluded.user_name, account = excluded.account, start_us = excluded.start_us,
  updated_us = excluded.updated_us, charged_uj = excluded.charged_uj, co2_kg = excluded.co2_kg,
  gpu_count = excluded.gpu_count, gpu_model = excluded.gpu_model
WHERE excluded.updated_us >= rj.updated_us
RETURNING 1
)sql";

}  // namespace

std::expected<bool, std::string> pg_update_running(PgConnection& db, const RunningRecord& r) {
  if (auto bad = invalid_running(r)) {
    return std::unexpected(fmt::format("{}: {}; nothing was written", db.describe(), *bad));
  }
  for (const std::string* t :
       {&r.cluster, &r.job_id, &r.step, &r.node, &r.user, &r.account, &r.gpu_model}) {
    if (t->find('\0') != std::string::npos) {
      return std::unexpected(
          fmt::format("{}: a text field contains a NUL byte; nothing was written", db.describe()));
    }
  }
  PgParams p;
  p.add(r.cluster).add(r.job_id).add(to_us(r.submit_time)).add(r.step).add(r.node);
  p.add(r.user).add(r.account).add(to_us(r.start)).add(to_us(r.updated));
  p.add(r.energy_charged.value).add(r.co2_kg).add(r.gpu_count).add(r.gpu_model);
  auto done = db.exec(kUpsert, p);
  if (!done) return std::unexpected(done.error().message);
  if (done->rows() > 0) return true;
  // No row: either the final record exists (refused), or the stored report is newer (kept).
  auto finished = db.exec(
      "SELECT 1 FROM jobs WHERE cluster = $1 AND job_id = $2 AND submit_us = $3 AND step = $4 "
      "AND node = $5",
      PgParams().add(r.cluster).add(r.job_id).add(to_us(r.submit_time)).add(r.step).add(r.node));
  if (!finished) return std::unexpected(finished.error().message);
  return finished->rows() == 0;
}

std::expected<std::vector<RunningRecord>, std::string> pg_list_running(PgConnection& db,
                                                                       const JobFilter& f) {
  std::string sql =
      "SELECT cluster, job_id, submit_us, step, node, user_name, account, start_us, updated_us, "
      "charged_uj, co2_kg, gpu_count, gpu_model FROM running_jobs r WHERE " +
      std::string(kNotFinished);
  PgParams params;
  if (f.account) {
    params.add(*f.account);
    sql += fmt::format(" AND account = ${}", params.values().size());
  }
  if (f.user) {
    params.add(*f.user);
    sql += fmt::format(" AND user_name = ${}", params.values().size());
  }
  sql += " ORDER BY start_us DESC, cluster, job_id, node, step";
  if (f.last) {
    params.add(static_cast<std::int64_t>(std::min<std::size_t>(*f.last, INT64_MAX)));
    sql += fmt::format(" LIMIT ${}", params.values().size());
  }
  auto rows = db.exec(sql, params);
  if (!rows) return std::unexpected(rows.error().message);
  std::vector<RunningRecord> out;
  for (int i = 0; i < rows->rows(); ++i) {
    RunningRecord r;
    int c = 0;
    r.cluster = rows->text(i, c++);
    r.job_id = rows->text(i, c++);
    r.submit_time = from_us(rows->int64(i, c++));
    r.step = rows->text(i, c++);
    r.node = rows->text(i, c++);
    r.user = rows->text(i, c++);
    r.account = rows->text(i, c++);
    r.start = from_us(rows->int64(i, c++));
    r.updated = from_us(rows->int64(i, c++));
    r.energy_charged = Microjoules(rows->int64(i, c++));
    r.co2_kg = rows->real(i, c++);
    r.gpu_count = static_cast<int>(rows->int64(i, c++));
    r.gpu_model = rows->text(i, c++);
    out.push_back(std::move(r));
  }
  return out;
}

std::expected<Usage, std::string> pg_running_usage(PgConnection& db, const std::string& account,
                                                   const std::string& user, int year) {
  auto from = pg_read_year_start(db);
  if (!from) return std::unexpected(from.error());
  const auto period = policy::period_for_year(year, *from);
  const auto y0 = std::chrono::floor<std::chrono::microseconds>(period.start).time_since_epoch();
  const auto y1 = std::chrono::floor<std::chrono::microseconds>(period.end).time_since_epoch();
  const std::string sql = R"sql(
WITH RECURSIVE subtree(account) AS (
  SELECT $1::text COLLATE "C"
  UNION SELECT p.account FROM account_parents p JOIN subtree s ON p.parent = s.account),
parts AS (
  SELECT charged_uj, co2_kg, start_us,
    CASE WHEN updated_us = start_us THEN (CASE WHEN start_us >= $3::bigint AND start_us < $4::bigint THEN 1.0
                                              ELSE 0.0 END)
         ELSE greatest(0, least(updated_us, $4) - greatest(start_us, $3))::float8
              / (updated_us - start_us)
    END AS share
  -- OFFSET 0 keeps the subquery apart, so each account is an index range (the planner would
  -- otherwise hash the whole table).
  FROM subtree s, LATERAL (SELECT * FROM running_jobs r WHERE r.account = s.account OFFSET 0) r
  WHERE ($2::text = '' OR user_name = $2::text) AND start_us < $4 AND updated_us >= $3)
SELECT coalesce(sum(co2_kg * share), 0), coalesce(sum(trunc(charged_uj * share)), 0)::bigint,
       count(*) FILTER (WHERE start_us >= $3)
FROM parts WHERE share > 0 OR (start_us >= $3 AND start_us < $4)
)sql";
  auto row = db.exec_cached(sql, PgParams()
                                     .add(account)
                                     .add(user)
                                     .add(static_cast<std::int64_t>(y0.count()))
                                     .add(static_cast<std::int64_t>(y1.count())));
  if (!row) return std::unexpected(row.error().message);
  return Usage{KgCo2{row->real(0, 0)}, Microjoules(row->int64(0, 1)), row->int64(0, 2)};
}

std::expected<TypicalPower, std::string> pg_typical_power(PgConnection& db,
                                                          const std::string& gpu_model) {
  auto rows = db.exec_cached(
      "SELECT device, sum(energy_j), sum(device_seconds), sum(jobs) FROM power_totals "
      "WHERE (device = 'gpu' AND ($1::text = '' OR model = $1::text)) OR device = 'cpu' GROUP BY "
      "device",
      PgParams().add(gpu_model));
  if (!rows) return std::unexpected(rows.error().message);
  TypicalPower out;
  for (int i = 0; i < rows->rows(); ++i) {
    const double seconds = rows->real(i, 2);
    if (!(seconds > 0)) continue;
    const double watts = rows->real(i, 1) / seconds;
    if (rows->text(i, 0) == "gpu") {
      out.gpu_watts = watts;
      out.gpu_jobs = rows->int64(i, 3);
    } else {
      out.cpu_watts = watts;
      out.cpu_jobs = rows->int64(i, 3);
    }
  }
  return out;
}

}  // namespace jobcarbon::ledger
