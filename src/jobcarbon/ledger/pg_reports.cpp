#include <jobcarbon/ledger/pg_reports.hpp>

#include <cstdint>
#include <string_view>

#include <fmt/format.h>

#include <jobcarbon/ledger/store.hpp>
#include <jobcarbon/ledger/usage_split.hpp>

namespace jobcarbon::ledger {
namespace {

// The group key as an SQL expression over a jobs row. Periods are the start time's in UTC,
// truncated to the second first as SQLite's start_us / 1000000 is (a double of microseconds could
// round 23:59:59.999999 up into the next month). IYYY/IW are the ISO year and week.
std::string_view key_expression(Grouping by) {
  switch (by) {
    case Grouping::kAccount:
      return "account";
    case Grouping::kUser:
      return "user_name";
    case Grouping::kNode:
      return "node";
    case Grouping::kGpuModel:
      return "gpu_model";
    case Grouping::kTag:  // $1 is the tag key (pg_report_rows adds it first)
      return "coalesce((SELECT t.value FROM job_tags t WHERE t.job = jobs.id AND t.key = $1), '')";
    case Grouping::kMonth:
      return "to_char(to_timestamp(start_us / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM')";
    case Grouping::kWeek:
      return "to_char(to_timestamp(start_us / 1000000) AT TIME ZONE 'UTC', 'IYYY-\"W\"IW')";
  }
  return "account";
}

}  // namespace

std::expected<std::vector<ReportRow>, std::string> pg_report_rows(PgConnection& db,
                                                                  const ReportQuery& q) {
  // Energies are summed as integers (numeric sums, exact) and converted once. A job is (cluster,
  // job_id, submit_us): its records on several nodes count once. Keys sort bytewise (COLLATE
  // "C"), as SQLite's.
  // Groupings by account, user or month bounded by month starts read the monthly roll-ups.
  const bool rollups =
      (q.by == Grouping::kAccount || q.by == Grouping::kUser || q.by == Grouping::kMonth) &&
      (!q.since || is_month_start(*q.since)) && (!q.until || is_month_start(*q.until));
  std::string sql;
  if (rollups) {
    sql = fmt::format(
        R"sql(SELECT {} COLLATE "C" AS k, sum(jobs), sum(records), sum(gpu_hours) * 3.6e9,
  sum(charged_uj), sum(facility_kwh) * 3.6e12, sum(machine_uj), sum(unallocated_uj), sum(co2_kg),
  min(first_start_us), max(last_start_us)
FROM report_totals WHERE true)sql",
        q.by == Grouping::kAccount ? "account"
        : q.by == Grouping::kUser
            ? "user_name"
            : "to_char(to_timestamp(month_us / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM')");
  } else {
    sql = fmt::format(R"sql(SELECT {} COLLATE "C" AS k,
  count(DISTINCT (cluster, job_id, submit_us)), count(*),
  sum(gpu_count::bigint * (end_us - start_us)), sum(charged_uj), sum(charged_uj * pue),
  sum(machine_uj), sum(unallocated_uj), sum(co2_kg), min(start_us), max(start_us)
FROM jobs WHERE true)sql",
                      key_expression(q.by));
  }
  const std::string_view time = rollups ? "month_us" : "start_us";
  PgParams params;
  if (q.by == Grouping::kTag) params.add(q.tag_key);
  const auto filter = [&sql, &params](std::string_view clause, auto value) {
    params.add(value);
    sql += fmt::format(fmt::runtime(clause), params.values().size());
  };
  if (q.since) filter(fmt::format(" AND {} >= ${{}}", time), to_us(*q.since));
  if (q.until) filter(fmt::format(" AND {} < ${{}}", time), to_us(*q.until));
  if (q.account) filter(" AND account = ${}", *q.account);
  if (q.user) filter(" AND user_name = ${}", *q.user);
  sql += " GROUP BY k ORDER BY k";
  auto rows = db.exec(sql, params);
  if (!rows) return std::unexpected(rows.error().message);

  std::vector<ReportRow> out;
  for (int i = 0; i < rows->rows(); ++i) {
    ReportRow r;
    int c = 0;
    r.key = rows->text(i, c++);
    r.jobs = rows->int64(i, c++);
    r.records = rows->int64(i, c++);
    r.gpu_hours = rows->real(i, c++) / 3.6e9;
    r.energy_charged = Microjoules(rows->int64(i, c++));
    r.facility_kwh = rows->real(i, c++) / 3.6e12;
    r.machine_energy = Microjoules(rows->int64(i, c++));
    r.unallocated_energy = Microjoules(rows->int64(i, c++));
    r.co2_kg = rows->real(i, c++);
    r.first_start = Timestamp(std::chrono::microseconds(rows->int64(i, c++)));
    r.last_start = Timestamp(std::chrono::microseconds(rows->int64(i, c++)));
    out.push_back(std::move(r));
  }
  if (q.by != Grouping::kNode || q.account || q.user) return out;

  // Idle energy per node, merged into the node rows (a node idle all along gets its own row).
  std::string idle_sql = "SELECT node, sum(idle_uj)::bigint FROM node_idle WHERE true";
  PgParams idle_params;
  if (q.since) {
    idle_params.add(to_us(*q.since));
    idle_sql += fmt::format(" AND start_us >= ${}", idle_params.values().size());
  }
  if (q.until) {
    idle_params.add(to_us(*q.until));
    idle_sql += fmt::format(" AND start_us < ${}", idle_params.values().size());
  }
  idle_sql += " GROUP BY node";
  auto idle = db.exec(idle_sql, idle_params);
  if (!idle) return std::unexpected(idle.error().message);
  std::vector<std::pair<std::string, Microjoules>> per_node;
  for (int i = 0; i < idle->rows(); ++i) {
    per_node.emplace_back(idle->text(i, 0), Microjoules(idle->int64(i, 1)));
  }
  merge_idle(out, per_node);
  return out;
}

std::expected<bool, std::string> pg_append_idle(PgConnection& db, const NodeIdle& idle) {
  if (auto bad = invalid_idle(idle)) {
    return std::unexpected(fmt::format("{}: {}; nothing was written", db.describe(), *bad));
  }
  if (idle.cluster.find('\0') != std::string::npos || idle.node.find('\0') != std::string::npos) {
    return std::unexpected(fmt::format("{}: a text field contains a NUL byte", db.describe()));
  }
  auto done = db.exec(
      "INSERT INTO node_idle (cluster, node, start_us, end_us, idle_uj) VALUES ($1, $2, $3, $4, "
      "$5) ON CONFLICT (cluster, node, start_us) DO NOTHING RETURNING 1",
      PgParams()
          .add(idle.cluster)
          .add(idle.node)
          .add(to_us(idle.start))
          .add(to_us(idle.end))
          .add(idle.energy.value));
  if (!done) return std::unexpected(done.error().message);
  return done->rows() > 0;
}

}  // namespace jobcarbon::ledger
