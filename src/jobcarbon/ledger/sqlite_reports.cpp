#include <jobcarbon/ledger/sqlite_reports.hpp>

#include <jobcarbon/ledger/store.hpp>
#include <jobcarbon/ledger/usage_split.hpp>

#include <cstdint>
#include <string_view>

#include <fmt/format.h>

namespace jobcarbon::ledger {
namespace {

// The group key of each grouping, as an SQL expression over a jobs row. Periods are the start
// time's in UTC. SQLite before 3.46 (Debian 12 has 3.40) has no %G/%V, so the ISO week is
// computed from its Thursday: three days back, then forward to the next Thursday, lands on the
// Thursday of the same Monday-to-Sunday week; that Thursday's year is the ISO year and its
// day of the year gives the week number.
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
    case Grouping::kTag:
      return "coalesce((SELECT t.value FROM job_tags t WHERE t.job = jobs.id AND t.key = ?5), '')";
    case Grouping::kMonth:
      return "strftime('%Y-%m', start_us / 1000000, 'unixepoch')";
    case Grouping::kWeek:
      return "(SELECT strftime('%Y', thu) || '-W' || printf('%02d', (strftime('%j', thu) - 1) / "
             "7 + 1) FROM (SELECT date(start_us / 1000000, 'unixepoch', '-3 days', "
             "'weekday 4') AS thu))";
  }
  return "account";
}

// True when QUERY can be answered from report_totals: a grouping it keeps, bounds on months.
bool from_rollups(const ReportQuery& q) {
  const bool kept =
      q.by == Grouping::kAccount || q.by == Grouping::kUser || q.by == Grouping::kMonth;
  return kept && (!q.since || is_month_start(*q.since)) && (!q.until || is_month_start(*q.until));
}

}  // namespace

std::expected<std::vector<ReportRow>, std::string> report_rows(SqliteConnection& db,
                                                               const ReportQuery& q) {
  // Energies are summed as integers (exact) and converted once. A job is (cluster, job_id,
  // submit_us): its records on several nodes count once.
  std::string sql = "SELECT ";
  if (from_rollups(q)) {
    sql += q.by == Grouping::kAccount ? "account"
           : q.by == Grouping::kUser  ? "user_name"
                                      : "strftime('%Y-%m', month_us / 1000000, 'unixepoch')";
    sql += R"sql( AS k, sum(jobs), sum(records), sum(gpu_hours) * 3.6e9, sum(charged_uj),
  sum(facility_kwh) * 3.6e12, sum(machine_uj), sum(unallocated_uj), sum(co2_kg),
  min(first_start_us), max(last_start_us)
FROM report_totals WHERE 1)sql";
    if (q.since) sql += " AND month_us >= ?1";
    if (q.until) sql += " AND month_us < ?2";
  } else {
    sql += key_expression(q.by);
    sql += R"sql( AS k,
  count(DISTINCT cluster || char(31) || job_id || char(31) || submit_us), count(*),
  sum(gpu_count * (end_us - start_us)), sum(charged_uj), sum(charged_uj * pue), sum(machine_uj),
  sum(unallocated_uj), sum(co2_kg), min(start_us), max(start_us)
FROM jobs WHERE 1)sql";
    if (q.since) sql += " AND start_us >= ?1";
    if (q.until) sql += " AND start_us < ?2";
  }
  if (q.account) sql += " AND account = ?3";
  if (q.user) sql += " AND user_name = ?4";
  sql += " GROUP BY k ORDER BY k";
  auto stmt = db.prepare(sql);
  if (!stmt) return std::unexpected(stmt.error());
  if (q.since) stmt->bind(1, to_us(*q.since));
  if (q.until) stmt->bind(2, to_us(*q.until));
  if (q.account) stmt->bind(3, *q.account);
  if (q.user) stmt->bind(4, *q.user);
  if (q.by == Grouping::kTag) stmt->bind(5, q.tag_key);

  std::vector<ReportRow> out;
  int rc;
  while ((rc = stmt->step()) == SQLITE_ROW) {
    ReportRow r;
    int c = 0;
    r.key = stmt->text(c++);
    r.jobs = stmt->int64(c++);
    r.records = stmt->int64(c++);
    r.gpu_hours = stmt->real(c++) / 3.6e9;
    r.energy_charged = Microjoules(stmt->int64(c++));
    r.facility_kwh = stmt->real(c++) / 3.6e12;
    r.machine_energy = Microjoules(stmt->int64(c++));
    r.unallocated_energy = Microjoules(stmt->int64(c++));
    r.co2_kg = stmt->real(c++);
    r.first_start = Timestamp(std::chrono::microseconds(stmt->int64(c++)));
    r.last_start = Timestamp(std::chrono::microseconds(stmt->int64(c++)));
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return std::unexpected(db.error(rc));
  if (q.by != Grouping::kNode || q.account || q.user) return out;

  // Idle energy per node, merged into the node rows (a node idle all along gets its own row).
  std::string idle_sql = "SELECT node, sum(idle_uj) FROM node_idle WHERE 1";
  if (q.since) idle_sql += " AND start_us >= ?1";
  if (q.until) idle_sql += " AND start_us < ?2";
  idle_sql += " GROUP BY node";
  auto idle = db.prepare(idle_sql);
  if (!idle) return std::unexpected(idle.error());
  if (q.since) idle->bind(1, to_us(*q.since));
  if (q.until) idle->bind(2, to_us(*q.until));
  std::vector<std::pair<std::string, Microjoules>> per_node;
  while ((rc = idle->step()) == SQLITE_ROW) {
    per_node.emplace_back(idle->text(0), Microjoules(idle->int64(1)));
  }
  if (rc != SQLITE_DONE) return std::unexpected(db.error(rc));
  merge_idle(out, per_node);
  return out;
}

std::expected<bool, std::string> append_idle(SqliteConnection& db, const NodeIdle& idle) {
  if (auto bad = invalid_idle(idle)) {
    return std::unexpected(fmt::format("sqlite:{}: {}", db.path().string(), *bad));
  }
  auto stmt = db.prepare(
      "INSERT INTO node_idle (cluster, node, start_us, end_us, idle_uj) VALUES (?1, ?2, ?3, ?4, "
      "?5) ON CONFLICT (cluster, node, start_us) DO NOTHING");
  if (!stmt) return std::unexpected(stmt.error());
  stmt->bind(1, idle.cluster);
  stmt->bind(2, idle.node);
  stmt->bind(3, to_us(idle.start));
  stmt->bind(4, to_us(idle.end));
  stmt->bind(5, idle.energy.value);
  if (const int rc = stmt->step(); rc != SQLITE_DONE) return std::unexpected(db.error(rc));
  return sqlite3_changes(db.get()) > 0;
}

}  // namespace jobcarbon::ledger
