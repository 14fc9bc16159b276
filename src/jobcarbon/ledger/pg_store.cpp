#include <jobcarbon/ledger/pg_store.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/pg_budgets.hpp>
#include <jobcarbon/ledger/pg_connection.hpp>
#include <jobcarbon/ledger/pg_periods.hpp>
#include <jobcarbon/ledger/pg_reports.hpp>
#include <jobcarbon/ledger/pg_running.hpp>
#include <jobcarbon/ledger/pg_schema.hpp>
#include <jobcarbon/ledger/pg_steps.hpp>
#include <jobcarbon/ledger/usage_split.hpp>

namespace jobcarbon::ledger {
namespace {

// One statement writes the job, its tags and its usage totals: the tags and totals are inserted
// only from the row the job INSERT returned, so a retried write (ON CONFLICT DO NOTHING returns no
// row) changes nothing. The totals are written in the order usage_deltas gives (ORDER BY
// ordinality), so concurrent appends lock usage rows in one order and cannot deadlock on them.
constexpr std::string_view kAppend = R"sql(
WITH j AS (
  INSERT INTO jobs (cluster, job_id, submit_us, step, node, user_name, account, start_us, end_us,
    exit_code, command, gpu_uj, cpu_uj, dram_uj, node_uj, estimated_cpu_uj, estimated_memory_uj,
    charged_uj, machine_uj, unallocated_uj, method, gpu_count, gpu_model, intensity_kg_per_kwh,
    intensity_zone, intensity_dataset, intensity_year, pue, co2_kg, report_json, recorded_by,
    cpus, work_count, work_unit)
  VALUES ($1, $2, $3, $4, $5, $6, $7::text, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
    $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $39, $40, $41)
  ON CONFLICT (cluster, job_id, submit_us, step, node) DO NOTHING
  RETURNING id),
d AS (
  DELETE FROM running_jobs r USING j
  WHERE r.cluster = $1 AND r.job_id = $2 AND r.submit_us = $3 AND r.step = $4 AND r.node = $5),
p AS (
  INSERT INTO power_totals (device, model, energy_j, device_seconds, jobs)
  SELECT x.d, x.m, x.e, x.s, 1
  FROM j, unnest($42::text[], $43::text[], $44::float8[], $45::float8[]) AS x(d, m, e, s)
  ON CONFLICT (device, model) DO UPDATE SET
    energy_j = power_totals.energy_j + excluded.energy_j,
    device_seconds = power_totals.device_seconds + excluded.device_seconds,
    jobs = power_totals.jobs + 1),
t AS (
  INSERT INTO job_tags (job, key, value)
  SELECT j.id, x.k, x.v FROM j, unnest($32::text[], $33::text[]) AS x(k, v)),
u AS (
  INSERT INTO usage_totals (account, user_name, period_year, co2_kg, energy_uj, jobs)
  SELECT $7::text, x.u, x.y, x.c, x.e, x.n
  FROM j, unnest($34::text[], $35::integer[], $36::float8[], $37::bigint[], $38::integer[])
    WITH ORDINALITY AS x(u, y, c, e, n, o)
  ORDER BY x.o
  ON CONFLICT (account, user_name, period_year) DO UPDATE SET
    co2_kg = usage_totals.co2_kg + excluded.co2_kg,
    energy_uj = usage_totals.energy_uj + excluded.energy_uj,
    jobs = usage_totals.jobs + excluded.jobs)
SELECT count(*) FROM j
)sql";

// Column order of kSelectJobs is the order read_job() reads; the last two are report_json (or '')
// and the tags as a JSON object.
constexpr std::string_view kSelectJobs = R"sql(
SELECT id, cluster, job_id, submit_us, step, node, user_name, account, start_us, end_us,
  exit_code, command, gpu_uj, cpu_uj, dram_uj, node_uj, estimated_cpu_uj, estimated_memory_uj,
  charged_uj, machine_uj, unallocated_uj, method, gpu_count, gpu_model, intensity_kg_per_kwh,
  intensity_zone, intensity_dataset, intensity_year, pue, co2_kg, cpus, work_count, work_unit, {},
  (SELECT coalesce(json_object_agg(t.key, t.value), '{{}}'::json) FROM job_tags t
   WHERE t.job = jobs.id)
FROM jobs)sql";

// Deadlocks and serialization failures are the server's way of saying "try again".
constexpr int kAttempts = 5;

std::vector<std::string> command_from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> out;
  if (!j.is_array()) return {text};  // edited by hand: keep what is there, readable
  for (const auto& a : j) out.push_back(a.is_string() ? a.get<std::string>() : a.dump());
  return out;
}

JobRecord read_job(const PgResult& s, int row) {
  JobRecord r;
  int c = 1;  // column 0 is the row id
  r.cluster = s.text(row, c++);
  r.job_id = s.text(row, c++);
  r.submit_time = from_us(s.int64(row, c++));
  r.step = s.text(row, c++);
  r.node = s.text(row, c++);
  r.user = s.text(row, c++);
  r.account = s.text(row, c++);
  r.start = from_us(s.int64(row, c++));
  r.end = from_us(s.int64(row, c++));
  r.exit_code = static_cast<int>(s.int64(row, c++));
  r.command = command_from_json(s.text(row, c++));
  for (Microjoules* e :
       {&r.energy.gpu, &r.energy.cpu, &r.energy.dram, &r.energy.node, &r.energy.estimated_cpu,
        &r.energy.estimated_memory, &r.energy_charged, &r.machine_energy, &r.unallocated_energy}) {
    *e = Microjoules(s.int64(row, c++));
  }
  r.method = s.text(row, c++);
  r.gpu_count = static_cast<int>(s.int64(row, c++));
  r.gpu_model = s.text(row, c++);
  r.intensity_kg_per_kwh = s.real(row, c++);
  r.intensity_zone = s.text(row, c++);
  r.intensity_dataset = s.text(row, c++);
  r.intensity_year = static_cast<int>(s.int64(row, c++));
  r.pue = s.real(row, c++);
  r.co2_kg = s.real(row, c++);
  r.cpus = s.real(row, c++);
  if (!s.is_null(row, c)) r.work_count = s.real(row, c);
  ++c;
  r.work_unit = s.text(row, c++);
  r.report_json = s.text(row, c++);
  const auto tags = nlohmann::json::parse(s.text(row, c++), nullptr, false);
  if (tags.is_object()) {
    for (const auto& [k, v] : tags.items()) r.tags[k] = v.is_string() ? v.get<std::string>() : "";
  }
  return r;
}

// Return the first text field of R that PostgreSQL cannot store (text holds no NUL byte; libpq
// would silently cut the value there), or nullopt.
std::optional<std::string> nul_field(const JobRecord& r) {
  const auto has_nul = [](std::string_view s) { return s.find('\0') != std::string_view::npos; };
  const std::pair<const char*, const std::string*> fields[] = {
      {"cluster", &r.cluster},
      {"job_id", &r.job_id},
      {"step", &r.step},
      {"node", &r.node},
      {"user", &r.user},
      {"account", &r.account},
      {"method", &r.method},
      {"gpu_model", &r.gpu_model},
      {"intensity_zone", &r.intensity_zone},
      {"intensity_dataset", &r.intensity_dataset},
      {"report_json", &r.report_json},
      {"work_unit", &r.work_unit}};
  for (const auto& [name, value] : fields) {
    if (has_nul(*value)) return fmt::format("{} contains a NUL byte", name);
  }
  for (const auto& [k, v] : r.tags) {
    if (has_nul(k) || has_nul(v)) return "a tag contains a NUL byte";
  }
  return std::nullopt;
}

std::string number_array(const std::vector<std::string>& values) {
  return fmt::format("{{{}}}", fmt::join(values, ","));
}

class PgStore final : public Store {
 public:
  PgStore(std::unique_ptr<PgConnection> db, int version, PgOptions options)
      : db_(std::move(db)), version_(version), options_(std::move(options)) {}

  std::expected<bool, std::string> append(const JobRecord& r) override {
    if (auto bad = invalid_field(r)) {
      return std::unexpected(fmt::format("{}: {}; nothing was written", describe(), *bad));
    }
    if (auto bad = nul_field(r)) {
      return std::unexpected(fmt::format("{}: {}; nothing was written", describe(), *bad));
    }
    // The periods as the ledger says now. (A change of the year start locks usage_totals and
    // rebuilds them; an append that read the old start before it and writes after it would be
    // split by the old periods — change the start when no jobs are being recorded.)
    auto from = pg_read_year_start(*db_);
    if (!from) return std::unexpected(from.error());
    auto deltas = usage_deltas(r, *from);
    if (!deltas) return std::unexpected(fmt::format("{}: {}", describe(), deltas.error()));
    const PgParams params = append_params(r, *deltas);
    for (int attempt = 1;; ++attempt) {
      auto written = append_once(params);
      if (written) return *written;
      const bool retry = written.error().sqlstate == "40P01" || written.error().sqlstate == "40001";
      if (!retry || attempt == kAttempts) return std::unexpected(written.error().message);
    }
  }

  std::expected<std::vector<JobRecord>, std::string> list_jobs(const JobFilter& f) override {
    std::string sql = fmt::format(kSelectJobs, f.with_report ? "report_json" : "''");
    PgParams params;
    std::vector<std::string> where;
    if (f.account) {
      params.add(*f.account);
      where.push_back(fmt::format("account = ${}", params.values().size()));
    }
    if (f.user) {
      params.add(*f.user);
      where.push_back(fmt::format("user_name = ${}", params.values().size()));
    }
    for (std::size_t i = 0; i < where.size(); ++i) sql += (i == 0 ? " WHERE " : " AND ") + where[i];
    sql += " ORDER BY start_us DESC, id DESC";
    if (f.last) {
      params.add(static_cast<std::int64_t>(std::min<std::size_t>(*f.last, INT64_MAX)));
      sql += fmt::format(" LIMIT ${}", params.values().size());
    }
    return read_jobs(sql, params);
  }

  std::expected<std::vector<JobRecord>, std::string> job_records(
      const std::string& job_id) override {
    return read_jobs(fmt::format(kSelectJobs, "report_json") +
                         " WHERE job_id = $1 ORDER BY cluster, submit_us, node, step, id",
                     PgParams().add(job_id));
  }

  std::expected<std::vector<ReportRow>, std::string> report_rows(
      const ReportQuery& query) override {
    return pg_report_rows(*db_, query);
  }

  std::expected<void, std::string> set_budget(const BudgetRecord& budget,
                                              const std::optional<std::string>& parent,
                                              const std::string& who) override {
    return pg_set_budget(*db_, budget, parent, who);
  }

  std::expected<std::vector<BudgetRecord>, std::string> list_budgets(
      const std::optional<std::string>& account, std::optional<int> year) override {
    return pg_list_budgets(*db_, account, year);
  }

  std::expected<Usage, std::string> usage(const std::string& account, const std::string& user,
                                          int year) override {
    return pg_usage(*db_, account, user, year);
  }

  std::expected<Usage, std::string> usage_between(const std::string& account,
                                                  const std::string& user, Timestamp from,
                                                  Timestamp to) override {
    return pg_usage_between(*db_, account, user, from, to);
  }

  std::expected<std::vector<std::string>, std::string> account_chain(
      const std::string& account) override {
    return pg_account_chain(*db_, account);
  }

  std::expected<bool, std::string> update_running(const RunningRecord& running) override {
    return pg_update_running(*db_, running);
  }

  std::expected<std::vector<RunningRecord>, std::string> list_running(
      const JobFilter& filter) override {
    return pg_list_running(*db_, filter);
  }

  std::expected<Usage, std::string> running_usage(const std::string& account,
                                                  const std::string& user, int year) override {
    return pg_running_usage(*db_, account, user, year);
  }

  std::expected<TypicalPower, std::string> typical_power(const std::string& gpu_model) override {
    return pg_typical_power(*db_, gpu_model);
  }

  std::expected<bool, std::string> append_idle(const NodeIdle& idle) override {
    return pg_append_idle(*db_, idle);
  }

  std::expected<bool, std::string> append_step(const JobRecord& step) override {
    return pg_append_step(*db_, step);
  }

  std::expected<std::vector<JobRecord>, std::string> job_steps(const std::string& job_id) override {
    return pg_job_steps(*db_, job_id);
  }

  std::expected<policy::YearStart, std::string> budget_year_start() override {
    return pg_read_year_start(*db_);
  }

  std::expected<void, std::string> set_budget_year_start(policy::YearStart from) override {
    return pg_set_year_start(*db_, from);
  }

  int schema_version() const override { return version_; }

  std::string describe() const override { return db_->describe(); }

 private:
  static PgParams append_params(const JobRecord& r, const std::vector<UsageDelta>& deltas) {
    PgParams p;
    p.add(r.cluster).add(r.job_id).add(to_us(r.submit_time)).add(r.step).add(r.node);
    p.add(r.user).add(r.account).add(to_us(r.start)).add(to_us(r.end)).add(r.exit_code);
    p.add(nlohmann::json(r.command).dump());
    for (Microjoules e :
         {r.energy.gpu, r.energy.cpu, r.energy.dram, r.energy.node, r.energy.estimated_cpu,
          r.energy.estimated_memory, r.energy_charged, r.machine_energy, r.unallocated_energy}) {
      p.add(e.value);
    }
    p.add(r.method).add(r.gpu_count).add(r.gpu_model).add(r.intensity_kg_per_kwh);
    p.add(r.intensity_zone).add(r.intensity_dataset).add(r.intensity_year).add(r.pue);
    p.add(r.co2_kg).add(r.report_json).add("jobcarbon " JOBCARBON_VERSION);
    std::vector<std::string> keys, values;
    for (const auto& [k, v] : r.tags) {
      keys.push_back(k);
      values.push_back(v);
    }
    p.add_text_array(keys).add_text_array(values);
    std::vector<std::string> users, years, co2, energy, jobs;
    for (const auto& d : deltas) {
      users.push_back(d.user);
      years.push_back(std::to_string(d.year));
      co2.push_back(fmt::format("{}", d.co2_kg));
      energy.push_back(std::to_string(d.energy.value));
      jobs.push_back(std::to_string(d.jobs));
    }
    p.add_text_array(users);
    p.add(number_array(years)).add(number_array(co2)).add(number_array(energy));
    p.add(number_array(jobs));
    p.add(r.cpus).add(r.work_count).add(r.work_unit);  // $39-$41
    std::vector<std::string> devices, models, joules, seconds;
    for (const auto& d : power_deltas(r)) {
      devices.push_back(d.device);
      models.push_back(d.model);
      joules.push_back(fmt::format("{}", d.joules));
      seconds.push_back(fmt::format("{}", d.device_seconds));
    }
    p.add_text_array(devices).add_text_array(models);  // $42-$45
    p.add(number_array(joules)).add(number_array(seconds));
    return p;
  }

  // One try: BEGIN, the statement, COMMIT. Rolled back on any error (a lost connection rolls
  // back on the server by itself).
  std::expected<bool, PgError> append_once(const PgParams& params) {
    auto fail = [this](PgError e) -> std::expected<bool, PgError> {
      if (!e.connection_lost && db_->in_transaction()) (void)db_->exec("ROLLBACK");
      return std::unexpected(std::move(e));
    };
    if (auto b = db_->exec("BEGIN"); !b) return fail(b.error());
    auto inserted = db_->exec(kAppend, params);
    if (!inserted) return fail(inserted.error());
    if (options_.before_commit) options_.before_commit(*db_);
    if (auto c = db_->exec("COMMIT"); !c) return fail(c.error());
    return inserted->int64(0, 0) == 1;
  }

  std::expected<std::vector<JobRecord>, std::string> read_jobs(const std::string& sql,
                                                               const PgParams& params) {
    auto rows = db_->exec(sql, params);
    if (!rows) return std::unexpected(rows.error().message);
    std::vector<JobRecord> out;
    out.reserve(static_cast<std::size_t>(rows->rows()));
    for (int i = 0; i < rows->rows(); ++i) out.push_back(read_job(*rows, i));
    return out;
  }

  std::unique_ptr<PgConnection> db_;
  int version_;
  PgOptions options_;
};

}  // namespace

std::expected<std::unique_ptr<PgConnection>, std::string> connect_pg_ledger(
    const std::string& conninfo, OpenMode mode, bool prepare, const PgOptions& options) {
  auto api = PgApi::load(options.library);
  if (!api) return std::unexpected(api.error());
  auto db = PgConnection::connect(*api, conninfo);
  if (!db) return std::unexpected(db.error());
  auto conn = std::make_unique<PgConnection>(std::move(*db));
  if (prepare) {
    auto version = prepare_pg_schema(*conn, mode);
    if (!version) return std::unexpected(version.error());
  }
  return conn;
}

std::expected<std::unique_ptr<Store>, std::string> open_pg_store(const std::string& conninfo,
                                                                 OpenMode mode,
                                                                 const PgOptions& options) {
  auto conn = connect_pg_ledger(conninfo, mode, /*prepare=*/false, options);
  if (!conn) return std::unexpected(conn.error());
  auto version = prepare_pg_schema(**conn, mode);
  if (!version) return std::unexpected(version.error());
  return std::make_unique<PgStore>(std::move(*conn), *version, options);
}

}  // namespace jobcarbon::ledger
