#include <jobcarbon/ledger/pg_steps.hpp>

#include <optional>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include <jobcarbon/ledger/step_json.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::ledger {
namespace {

constexpr std::string_view kInsertStep = R"sql(
INSERT INTO job_steps (cluster, job_id, submit_us, node, step, user_name, account, start_us,
  end_us, exit_code, gpu_uj, cpu_uj, dram_uj, node_uj, estimated_cpu_uj, estimated_memory_uj,
  charged_uj, co2_kg, record_json, recorded_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
ON CONFLICT (cluster, job_id, submit_us, node, step) DO NOTHING
RETURNING 1
)sql";

constexpr std::string_view kSelectSteps = R"sql(
SELECT cluster, job_id, node, step, record_json FROM job_steps WHERE job_id = $1
ORDER BY cluster, submit_us, node, start_us, step
)sql";

// Return the name of the first key or owner field PostgreSQL's text cannot hold (a NUL byte; libpq
// would cut the value there), or nullopt. record_json escapes NULs (\u0000), so the rest is safe.
std::optional<std::string_view> nul_field(const JobRecord& r) {
  const std::pair<std::string_view, const std::string*> fields[] = {
      {"cluster", &r.cluster}, {"job_id", &r.job_id}, {"node", &r.node},
      {"step", &r.step},       {"user", &r.user},     {"account", &r.account}};
  for (const auto& [name, value] : fields) {
    if (value->find('\0') != std::string::npos) return name;
  }
  return std::nullopt;
}

}  // namespace

std::expected<bool, std::string> pg_append_step(PgConnection& db, const JobRecord& r) {
  if (auto bad = invalid_step(r)) {
    return std::unexpected(fmt::format("{}: {}; nothing was written", db.describe(), *bad));
  }
  if (auto nul = nul_field(r)) {
    return std::unexpected(
        fmt::format("{}: {} contains a NUL byte; nothing was written", db.describe(), *nul));
  }
  PgParams p;
  p.add(r.cluster).add(r.job_id).add(to_us(r.submit_time)).add(r.node).add(r.step);
  p.add(r.user).add(r.account).add(to_us(r.start)).add(to_us(r.end)).add(r.exit_code);
  for (const Microjoules e :
       {r.energy.gpu, r.energy.cpu, r.energy.dram, r.energy.node, r.energy.estimated_cpu,
        r.energy.estimated_memory, r.energy_charged}) {
    p.add(e.value);
  }
  p.add(r.co2_kg).add(step_json_text(r)).add("jobcarbon " JOBCARBON_VERSION);
  auto done = db.exec(kInsertStep, p);
  if (!done) return std::unexpected(done.error().message);
  return done->rows() > 0;  // no row: the key exists, a retried write
}

std::expected<std::vector<JobRecord>, std::string> pg_job_steps(PgConnection& db,
                                                                const std::string& job_id) {
  auto rows = db.exec(kSelectSteps, PgParams().add(job_id));
  if (!rows) return std::unexpected(rows.error().message);
  std::vector<JobRecord> out;
  out.reserve(static_cast<std::size_t>(rows->rows()));
  for (int i = 0; i < rows->rows(); ++i) {
    auto r = step_from_json_text(rows->text(i, 4));
    if (!r) {
      return std::unexpected(
          fmt::format("{}: {}", db.describe(),
                      unreadable_step(rows->text(i, 0), rows->text(i, 1), rows->text(i, 2),
                                      rows->text(i, 3), r.error())));
    }
    out.push_back(std::move(*r));
  }
  return out;
}

}  // namespace jobcarbon::ledger
