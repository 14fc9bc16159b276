#include <jobcarbon/ledger/migrations.hpp>

#include <array>

namespace jobcarbon::ledger {
namespace {

// Times are INTEGER microseconds since 1970-01-01 UTC (exact, ordered, and the precision of
// PostgreSQL's timestamptz); energies are INTEGER microjoules. Column names avoid SQL keywords
// (user, end) so the PostgreSQL schema of issue #3 can use the same names. No STRICT tables and
// no CHECK on enumerations: older sqlite3 shells must still open the file, and a later version
// may add a method value without rebuilding the table.
constexpr std::string_view k0001Jobs = R"sql(
CREATE TABLE schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  oldest_compatible INTEGER NOT NULL,
  applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  applied_by TEXT NOT NULL DEFAULT ''
);

CREATE TABLE jobs (
  id INTEGER PRIMARY KEY,
  cluster TEXT NOT NULL,
  job_id TEXT NOT NULL,
  submit_us INTEGER NOT NULL,
  step TEXT NOT NULL DEFAULT '',
  node TEXT NOT NULL,
  user_name TEXT NOT NULL DEFAULT '',
  account TEXT NOT NULL DEFAULT '',
  start_us INTEGER NOT NULL,
  end_us INTEGER NOT NULL,
  exit_code INTEGER NOT NULL,
  command TEXT NOT NULL DEFAULT '[]',
  gpu_uj INTEGER NOT NULL DEFAULT 0,
  cpu_uj INTEGER NOT NULL DEFAULT 0,
  dram_uj INTEGER NOT NULL DEFAULT 0,
  node_uj INTEGER NOT NULL DEFAULT 0,
  estimated_cpu_uj INTEGER NOT NULL DEFAULT 0,
  estimated_memory_uj INTEGER NOT NULL DEFAULT 0,
  charged_uj INTEGER NOT NULL,
  machine_uj INTEGER NOT NULL DEFAULT 0,
  unallocated_uj INTEGER NOT NULL DEFAULT 0,
  method TEXT NOT NULL,
  gpu_count INTEGER NOT NULL DEFAULT 0,
  gpu_model TEXT NOT NULL DEFAULT '',
  intensity_kg_per_kwh REAL NOT NULL,
  intensity_zone TEXT NOT NULL DEFAULT '',
  intensity_dataset TEXT NOT NULL DEFAULT '',
  intensity_year INTEGER NOT NULL DEFAULT 0,
  pue REAL NOT NULL DEFAULT 1.0,
  co2_kg REAL NOT NULL,
  report_json TEXT NOT NULL DEFAULT '',
  recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  recorded_by TEXT NOT NULL DEFAULT '',
  UNIQUE (cluster, job_id, submit_us, step, node)
);
CREATE INDEX jobs_by_start ON jobs (start_us);
CREATE INDEX jobs_by_account ON jobs (account, start_us);
CREATE INDEX jobs_by_user ON jobs (user_name, start_us);

CREATE TABLE job_tags (
  job INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (job, key)
) WITHOUT ROWID;
CREATE INDEX job_tags_by_key ON job_tags (key, value);
)sql";

constexpr std::array kSqliteMigrations = {
    Migration{1, "0001_jobs", k0001Jobs, 1},
};

}  // namespace

std::span<const Migration> sqlite_migrations() {
  return kSqliteMigrations;
}

int latest_schema_version() {
  return kSqliteMigrations.back().version;
}

}  // namespace jobcarbon::ledger
