#include <jobcarbon/ledger/sqlite_steps.hpp>

#include <fmt/format.h>

#include <jobcarbon/ledger/step_json.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::ledger {
namespace {

constexpr std::string_view kInsertStep = R"sql(
INSERT INTO job_steps (cluster, job_id, submit_us, node, step, user_name, account, start_us,
  end_us, exit_code, gpu_uj, cpu_uj, dram_uj, node_uj, estimated_cpu_uj, estimated_memory_uj,
  charged_uj, co2_kg, record_json, recorded_by)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
ON CONFLICT (cluster, job_id, submit_us, node, step) DO NOTHING
)sql";

constexpr std::string_view kSelectSteps = R"sql(
SELECT cluster, job_id, node, step, record_json FROM job_steps WHERE job_id = ?1
ORDER BY cluster, submit_us, node, start_us, step
)sql";

}  // namespace

std::expected<bool, std::string> append_step(SqliteConnection& db, const JobRecord& r) {
  if (auto bad = invalid_step(r)) {
    return std::unexpected(fmt::format("sqlite:{}: {}", db.path().string(), *bad));
  }
  auto s = db.cached(kInsertStep);
  if (!s) return std::unexpected(s.error());
  int i = 1;
  (*s)->bind(i++, r.cluster);
  (*s)->bind(i++, r.job_id);
  (*s)->bind(i++, to_us(r.submit_time));
  (*s)->bind(i++, r.node);
  (*s)->bind(i++, r.step);
  (*s)->bind(i++, r.user);
  (*s)->bind(i++, r.account);
  (*s)->bind(i++, to_us(r.start));
  (*s)->bind(i++, to_us(r.end));
  (*s)->bind(i++, r.exit_code);
  for (const Microjoules e :
       {r.energy.gpu, r.energy.cpu, r.energy.dram, r.energy.node, r.energy.estimated_cpu,
        r.energy.estimated_memory, r.energy_charged}) {
    (*s)->bind(i++, e.value);
  }
  (*s)->bind(i++, r.co2_kg);
  (*s)->bind(i++, step_json_text(r));
  (*s)->bind(i++, std::string_view("jobcarbon " JOBCARBON_VERSION));
  if (const int rc = (*s)->step(); rc != SQLITE_DONE) return std::unexpected(db.error(rc));
  return sqlite3_changes(db.get()) > 0;  // 0: the key exists, a retried write
}

std::expected<std::vector<JobRecord>, std::string> job_steps(SqliteConnection& db,
                                                             const std::string& job_id) {
  auto s = db.cached(kSelectSteps);
  if (!s) return std::unexpected(s.error());
  (*s)->bind(1, job_id);
  std::vector<JobRecord> out;
  int rc;
  while ((rc = (*s)->step()) == SQLITE_ROW) {
    auto r = step_from_json_text((*s)->text(4));
    if (!r) {
      return std::unexpected(fmt::format(
          "sqlite:{}: {}", db.path().string(),
          unreadable_step((*s)->text(0), (*s)->text(1), (*s)->text(2), (*s)->text(3), r.error())));
    }
    out.push_back(std::move(*r));
  }
  if (rc != SQLITE_DONE) return std::unexpected(db.error(rc));
  return out;
}

}  // namespace jobcarbon::ledger
