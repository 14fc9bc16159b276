#include "ledger_raw.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/policy/budget_period.hpp>

namespace jobcarbon::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t us(ledger::Timestamp t) {
  return t.time_since_epoch().count();
}
std::int64_t us(policy::WallTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// The ledger's jobs columns (migration 0001), without its key, defaults or indexes.
constexpr std::string_view kPlainTable = R"sql(
CREATE TABLE jobs_plain (cluster TEXT, job_id TEXT, submit_us INTEGER, step TEXT, node TEXT,
  user_name TEXT, account TEXT, start_us INTEGER, end_us INTEGER, exit_code INTEGER, command TEXT,
  gpu_uj INTEGER, cpu_uj INTEGER, dram_uj INTEGER, node_uj INTEGER, estimated_cpu_uj INTEGER,
  estimated_memory_uj INTEGER, charged_uj INTEGER, machine_uj INTEGER, unallocated_uj INTEGER,
  method TEXT, gpu_count INTEGER, gpu_model TEXT, intensity_kg_per_kwh REAL, intensity_zone TEXT,
  intensity_dataset TEXT, intensity_year INTEGER, pue REAL, co2_kg REAL, report_json TEXT,
  recorded_by TEXT, cpus REAL, work_count REAL, work_unit TEXT))sql";

constexpr std::string_view kPlainInsert = R"sql(
INSERT INTO jobs_plain VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
  ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34)
)sql";

// Bind every column as the Store's append does (the command as JSON included).
void bind_record(RawStatement& s, const ledger::JobRecord& r) {
  int i = 1;
  s.bind(i++, r.cluster);
  s.bind(i++, r.job_id);
  s.bind(i++, us(r.submit_time));
  s.bind(i++, r.step);
  s.bind(i++, r.node);
  s.bind(i++, r.user);
  s.bind(i++, r.account);
  s.bind(i++, us(r.start));
  s.bind(i++, us(r.end));
  s.bind(i++, std::int64_t{r.exit_code});
  s.bind(i++, nlohmann::json(r.command).dump());
  for (Microjoules e :
       {r.energy.gpu, r.energy.cpu, r.energy.dram, r.energy.node, r.energy.estimated_cpu,
        r.energy.estimated_memory, r.energy_charged, r.machine_energy, r.unallocated_energy}) {
    s.bind(i++, e.value);
  }
  s.bind(i++, r.method);
  s.bind(i++, std::int64_t{r.gpu_count});
  s.bind(i++, r.gpu_model);
  s.bind(i++, r.intensity_kg_per_kwh);
  s.bind(i++, r.intensity_zone);
  s.bind(i++, r.intensity_dataset);
  s.bind(i++, std::int64_t{r.intensity_year});
  s.bind(i++, r.pue);
  s.bind(i++, r.co2_kg);
  s.bind(i++, r.report_json);
  s.bind(i++, std::string_view("jobcarbon " JOBCARBON_VERSION));
  s.bind(i++, r.cpus);
  if (r.work_count) s.bind(i, *r.work_count);  // else NULL
  ++i;
  s.bind(i++, r.work_unit);
}

// Running jobs' provisional usage in the year: the Store's own query (sqlite_running.cpp), since
// it is not history and both answers must include it.
constexpr std::string_view kSumRunning = R"sql(
WITH RECURSIVE subtree(account) AS (
  SELECT ?1 UNION SELECT p.account FROM account_parents p JOIN subtree s ON p.parent = s.account)
SELECT coalesce(sum(co2_kg * CASE WHEN updated_us = start_us THEN
    (CASE WHEN start_us >= ?2 AND start_us < ?3 THEN 1.0 ELSE 0.0 END)
  ELSE max(0, min(updated_us, ?3) - max(start_us, ?2)) * 1.0 / (updated_us - start_us) END), 0)
FROM running_jobs r WHERE account IN (SELECT account FROM subtree) AND (?4 = '' OR user_name = ?4)
  AND start_us < ?3 AND updated_us >= ?2
  AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.cluster = r.cluster AND j.job_id = r.job_id
                  AND j.submit_us = r.submit_us AND j.step = r.step AND j.node = r.node))sql";

// ACCOUNT's subtree, as the Store's usage query walks it.
constexpr std::string_view kSumHistory = R"sql(
WITH RECURSIVE subtree(account) AS (
  SELECT ?1 UNION SELECT p.account FROM account_parents p JOIN subtree s ON p.parent = s.account)
SELECT coalesce(sum(co2_kg), 0) FROM jobs WHERE account IN (SELECT account FROM subtree)
  AND start_us >= ?2 AND start_us < ?3 AND (?4 = '' OR user_name = ?4))sql";

// One level as policy::check_submission takes it (CO2 only: the benchmark sets no kWh budgets).
policy::AccountUsage level(std::string name, std::optional<policy::Budget> budget,
                           std::pair<double, double> finished_and_running) {
  policy::AccountUsage u;
  u.account = std::move(name);
  u.budget = budget;
  u.used = KgCo2{finished_and_running.first};
  u.running = KgCo2{finished_and_running.second};
  return u;
}

}  // namespace

std::expected<RawDatabase, std::string> RawDatabase::open(const std::filesystem::path& path,
                                                          bool read_only) {
  RawDatabase d;
  d.path_ = path;
  sqlite3* raw = nullptr;
  const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  d.db_.reset(raw);
  if (rc != SQLITE_OK) return std::unexpected(d.error(rc));
  sqlite3_busy_timeout(raw, 5000);
  if (!read_only) {
    if (auto p = d.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL"); !p) {
      return std::unexpected(p.error());
    }
  }
  return d;
}

std::expected<void, std::string> RawDatabase::exec(const std::string& sql) {
  const int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(error(rc));
  return {};
}

std::expected<RawStatement, std::string> RawDatabase::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  const int rc =
      sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &s, nullptr);
  RawStatement stmt(s);
  if (rc != SQLITE_OK) return std::unexpected(error(rc));
  return stmt;
}

std::string RawDatabase::error(int rc) const {
  return fmt::format("{}: {} ({})", path_.string(), sqlite3_errmsg(db_.get()), sqlite3_errstr(rc));
}

std::expected<std::vector<std::chrono::nanoseconds>, std::string> raw_insert(
    const std::filesystem::path& path, RecordStream& stream, std::size_t rows_per_transaction) {
  auto db = RawDatabase::open(path, false);
  if (!db) return std::unexpected(db.error());
  if (auto t = db->exec(std::string(kPlainTable)); !t) return std::unexpected(t.error());
  auto insert = db->prepare(kPlainInsert);
  if (!insert) return std::unexpected(insert.error());
  std::vector<std::chrono::nanoseconds> times;
  std::vector<ledger::JobRecord> batch;
  while (true) {
    batch.clear();
    while (batch.size() < rows_per_transaction) {
      auto r = stream.next();
      if (!r) break;
      batch.push_back(std::move(*r));
    }
    if (batch.empty()) break;
    const auto t0 = Clock::now();
    if (auto b = db->exec("BEGIN IMMEDIATE"); !b) return std::unexpected(b.error());
    for (const auto& r : batch) {
      bind_record(*insert, r);
      const int rc = insert->step();
      insert->reset();
      if (rc != SQLITE_DONE) return std::unexpected(db->error(rc));
    }
    if (auto c = db->exec("COMMIT"); !c) return std::unexpected(c.error());
    times.push_back(Clock::now() - t0);
  }
  return times;
}

std::expected<HistoryCheck, std::string> HistoryCheck::open(const std::filesystem::path& ledger) {
  auto db = RawDatabase::open(ledger, true);
  if (!db) return std::unexpected(db.error());
  HistoryCheck h;
  h.db_ = std::move(*db);
  auto parent = h.db_.prepare("SELECT parent FROM account_parents WHERE account = ?1");
  auto budgets = h.db_.prepare(
      "SELECT user_name, limit_kg, policy, warn_at_bp FROM budgets WHERE account = ?1 AND "
      "period_year = ?2 AND limit_kg IS NOT NULL");
  auto sum = h.db_.prepare(kSumHistory);
  auto running = h.db_.prepare(kSumRunning);
  for (auto* s : {&parent, &budgets, &sum, &running}) {
    if (!*s) return std::unexpected(s->error());
  }
  h.parent_ = std::move(*parent);
  h.budgets_ = std::move(*budgets);
  h.sum_ = std::move(*sum);
  h.running_ = std::move(*running);
  return h;
}

std::expected<std::pair<double, double>, std::string> HistoryCheck::sum(const std::string& account,
                                                                        const std::string& user,
                                                                        int year) {
  const auto period = policy::period_for_year(year);
  double v[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    RawStatement& s = k == 0 ? sum_ : running_;
    s.bind(1, account);
    s.bind(2, us(period.start));
    s.bind(3, us(period.end));
    s.bind(4, user);
    const int rc = s.step();
    v[k] = sqlite3_column_double(s.get(), 0);
    s.reset();
    if (rc != SQLITE_ROW) return std::unexpected(db_.error(rc));
  }
  return std::pair{v[0], v[1]};
}

std::expected<policy::Verdict, std::string> HistoryCheck::check(const std::string& account,
                                                                const std::string& user,
                                                                KgCo2 estimate, int year) {
  std::vector<std::string> chain{account};
  while (true) {
    parent_.bind(1, chain.back());
    const int rc = parent_.step();
    std::string parent;
    if (rc == SQLITE_ROW) {
      parent = reinterpret_cast<const char*>(sqlite3_column_text(parent_.get(), 0));
    }
    parent_.reset();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return std::unexpected(db_.error(rc));
    if (std::ranges::find(chain, parent) != chain.end()) break;
    chain.push_back(std::move(parent));
  }
  std::vector<policy::AccountUsage> levels;
  for (const auto& a : chain) {
    std::optional<policy::Budget> whole, own;
    budgets_.bind(1, a);
    budgets_.bind(2, std::int64_t{year});
    int rc;
    while ((rc = budgets_.step()) == SQLITE_ROW) {
      const std::string who = reinterpret_cast<const char*>(sqlite3_column_text(budgets_.get(), 0));
      const std::string pol = reinterpret_cast<const char*>(sqlite3_column_text(budgets_.get(), 2));
      policy::Budget b;  // field by field: the struct grows (energy budgets)
      b.limit = KgCo2{sqlite3_column_double(budgets_.get(), 1)};
      b.policy = policy::parse_policy(pol).value_or(policy::Policy::kWarn);
      b.warn_at.basis_points = static_cast<std::int32_t>(sqlite3_column_int64(budgets_.get(), 3));
      if (who.empty()) whole = b;
      if (!user.empty() && who == user) own = b;
    }
    budgets_.reset();
    if (rc != SQLITE_DONE) return std::unexpected(db_.error(rc));
    if (a == account && own) {
      auto used = sum(a, user, year);
      if (!used) return std::unexpected(used.error());
      levels.push_back(level(fmt::format("{} (user {})", a, user), own, *used));
    }
    auto used = sum(a, "", year);
    if (!used) return std::unexpected(used.error());
    levels.push_back(level(a, whole, *used));
  }
  return policy::check_submission(levels, estimate, "");
}

std::expected<std::size_t, std::string> raw_report(RawDatabase& db, ledger::Timestamp since,
                                                   ledger::Timestamp until, bool all_columns) {
  std::string sql = "SELECT account, count(*), sum(co2_kg)";
  if (all_columns) {
    sql +=
        ", sum(gpu_count * (end_us - start_us)), sum(charged_uj), sum(charged_uj * pue), "
        "sum(machine_uj), sum(unallocated_uj), min(start_us), max(start_us)";
  }
  sql += " FROM jobs WHERE start_us >= ?1 AND start_us < ?2 GROUP BY account ORDER BY account";
  auto stmt = db.prepare(sql);
  if (!stmt) return std::unexpected(stmt.error());
  stmt->bind(1, us(since));
  stmt->bind(2, us(until));
  std::size_t groups = 0;
  int rc;
  while ((rc = stmt->step()) == SQLITE_ROW) ++groups;
  if (rc != SQLITE_DONE) return std::unexpected(db.error(rc));
  return groups;
}

}  // namespace jobcarbon::bench
