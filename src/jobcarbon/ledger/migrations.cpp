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

// Budgets (issue #3). Periods are calendar years in UTC. usage_totals holds running totals per
// (account, user, year) and per (account, '', year), maintained by every append in the same
// transaction, so `budget check` reads a few rows instead of summing history. The backfill below
// charges each existing job wholly to the year in which it started (new appends split a job that
// spans New Year exactly, by time); a job recorded before this migration that ran across a year
// boundary is the only approximation. Limits: limit_kg for CO2, limit_uj for `--limit-kwh`; exactly
// one is set (the store checks it). warn_at_bp is the warn threshold in basis points.
constexpr std::string_view k0002Budgets = R"sql(
CREATE TABLE budgets (
  account TEXT NOT NULL,
  user_name TEXT NOT NULL DEFAULT '',
  period_year INTEGER NOT NULL,
  limit_kg REAL NULL,
  limit_uj INTEGER NULL,
  policy TEXT NOT NULL DEFAULT 'warn' CHECK (policy IN ('warn', 'deny', 'stop')),
  warn_at_bp INTEGER NOT NULL DEFAULT 8000,
  updated_at TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  PRIMARY KEY (account, user_name, period_year)
);

CREATE TABLE budget_audit (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  who TEXT NOT NULL,
  account TEXT NOT NULL,
  user_name TEXT NOT NULL,
  period_year INTEGER NOT NULL,
  old TEXT NULL,
  new TEXT NULL
);

CREATE TABLE account_parents (
  account TEXT PRIMARY KEY,
  parent TEXT NOT NULL
);
CREATE INDEX account_parents_by_parent ON account_parents (parent);

CREATE TABLE usage_totals (
  account TEXT NOT NULL,
  user_name TEXT NOT NULL,
  period_year INTEGER NOT NULL,
  co2_kg REAL NOT NULL DEFAULT 0,
  energy_uj INTEGER NOT NULL DEFAULT 0,
  jobs INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (account, user_name, period_year)
);

INSERT INTO usage_totals (account, user_name, period_year, co2_kg, energy_uj, jobs)
  SELECT account, user_name, CAST(strftime('%Y', start_us / 1000000, 'unixepoch') AS INTEGER),
         sum(co2_kg), sum(charged_uj), count(*)
  FROM jobs WHERE user_name <> '' GROUP BY 1, 2, 3;
INSERT INTO usage_totals (account, user_name, period_year, co2_kg, energy_uj, jobs)
  SELECT account, '', CAST(strftime('%Y', start_us / 1000000, 'unixepoch') AS INTEGER),
         sum(co2_kg), sum(charged_uj), count(*)
  FROM jobs GROUP BY 1, 3;
)sql";

// Running jobs, learned power, work done (issue #3). running_jobs holds provisional usage of jobs
// still running (issue #4's agents upsert it), keyed like jobs; a job's final append deletes its
// row in the same transaction. Only agents (schema 3 and later) write running rows, for jobs whose
// final records they write themselves, so a version-2 writer never leaves one behind: additive,
// and oldest_compatible stays 2. (Listings still skip a row whose final record exists.)
// power_totals keeps energy and device-time per kind of device for the estimates at submission
// (REAL: a cluster's lifetime energy in microjoules overflows 64 bits); a version-2 writer leaves
// it short of its jobs, which only makes the estimate learn slower.
constexpr std::string_view k0003Running = R"sql(
CREATE TABLE running_jobs (
  cluster TEXT NOT NULL,
  job_id TEXT NOT NULL,
  submit_us INTEGER NOT NULL,
  step TEXT NOT NULL DEFAULT '',
  node TEXT NOT NULL,
  user_name TEXT NOT NULL DEFAULT '',
  account TEXT NOT NULL DEFAULT '',
  start_us INTEGER NOT NULL,
  updated_us INTEGER NOT NULL,
  charged_uj INTEGER NOT NULL,
  co2_kg REAL NOT NULL,
  gpu_count INTEGER NOT NULL DEFAULT 0,
  gpu_model TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (cluster, job_id, submit_us, step, node)
);
CREATE INDEX running_jobs_by_account
  ON running_jobs (account, user_name, start_us, updated_us, charged_uj, co2_kg);

CREATE TABLE power_totals (
  device TEXT NOT NULL,
  model TEXT NOT NULL,
  energy_j REAL NOT NULL DEFAULT 0,
  device_seconds REAL NOT NULL DEFAULT 0,
  jobs INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (device, model)
);

ALTER TABLE jobs ADD COLUMN cpus REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN work_count REAL NULL;
ALTER TABLE jobs ADD COLUMN work_unit TEXT NOT NULL DEFAULT '';

INSERT INTO power_totals (device, model, energy_j, device_seconds, jobs)
  SELECT 'gpu', gpu_model, sum(gpu_uj) / 1e6, sum(gpu_count * (end_us - start_us) / 1e6), count(*)
  FROM jobs WHERE gpu_count > 0 AND end_us - start_us >= 10000000 GROUP BY gpu_model;
)sql";

// Report roll-ups (issue #3): per (account, user, month of the start, UTC) the sums `jobcarbon
// report --by account|user|month` shows, kept by every append in its transaction, so a yearly
// report over a million records reads a few thousand rows instead of scanning them. A job counts
// in `jobs` with its first record written (its other nodes' records add to `records` only).
// gpu_hours and facility_kwh are REAL: a large account's month of GPU-microseconds can pass 2^63.
// Kept by a trigger on jobs, in the inserting transaction, so that writers of older versions
// keep them too: additive, oldest_compatible stays 2.
constexpr std::string_view k0004ReportTotals = R"sql(
CREATE TABLE report_totals (
  account TEXT NOT NULL,
  user_name TEXT NOT NULL,
  month_us INTEGER NOT NULL,
  jobs INTEGER NOT NULL DEFAULT 0,
  records INTEGER NOT NULL DEFAULT 0,
  gpu_hours REAL NOT NULL DEFAULT 0,
  charged_uj INTEGER NOT NULL DEFAULT 0,
  facility_kwh REAL NOT NULL DEFAULT 0,
  machine_uj INTEGER NOT NULL DEFAULT 0,
  unallocated_uj INTEGER NOT NULL DEFAULT 0,
  co2_kg REAL NOT NULL DEFAULT 0,
  first_start_us INTEGER NOT NULL,
  last_start_us INTEGER NOT NULL,
  PRIMARY KEY (account, user_name, month_us)
);

INSERT INTO report_totals (account, user_name, month_us, jobs, records, gpu_hours, charged_uj,
  facility_kwh, machine_uj, unallocated_uj, co2_kg, first_start_us, last_start_us)
  SELECT account, user_name,
    CAST(strftime('%s', start_us / 1000000, 'unixepoch', 'start of month') AS INTEGER) * 1000000,
    count(DISTINCT cluster || char(31) || job_id || char(31) || submit_us), count(*),
    sum(gpu_count * (end_us - start_us)) / 3.6e9, sum(charged_uj), sum(charged_uj * pue) / 3.6e12,
    sum(machine_uj), sum(unallocated_uj), sum(co2_kg), min(start_us), max(start_us)
  FROM jobs GROUP BY 1, 2, 3;

CREATE TRIGGER jobs_report_totals AFTER INSERT ON jobs BEGIN
  INSERT INTO report_totals (account, user_name, month_us, jobs, records, gpu_hours, charged_uj,
    facility_kwh, machine_uj, unallocated_uj, co2_kg, first_start_us, last_start_us)
  VALUES (NEW.account, NEW.user_name,
    CAST(strftime('%s', NEW.start_us / 1000000, 'unixepoch', 'start of month') AS INTEGER)
      * 1000000,
    (SELECT count(*) = 1 FROM jobs WHERE cluster = NEW.cluster AND job_id = NEW.job_id
       AND submit_us = NEW.submit_us),
    1, NEW.gpu_count * (NEW.end_us - NEW.start_us) / 3.6e9, NEW.charged_uj,
    NEW.charged_uj * NEW.pue / 3.6e12, NEW.machine_uj, NEW.unallocated_uj, NEW.co2_kg,
    NEW.start_us, NEW.start_us)
  ON CONFLICT (account, user_name, month_us) DO UPDATE SET
    jobs = report_totals.jobs + excluded.jobs, records = report_totals.records + 1,
    gpu_hours = report_totals.gpu_hours + excluded.gpu_hours,
    charged_uj = report_totals.charged_uj + excluded.charged_uj,
    facility_kwh = report_totals.facility_kwh + excluded.facility_kwh,
    machine_uj = report_totals.machine_uj + excluded.machine_uj,
    unallocated_uj = report_totals.unallocated_uj + excluded.unallocated_uj,
    co2_kg = report_totals.co2_kg + excluded.co2_kg,
    first_start_us = min(report_totals.first_start_us, excluded.first_start_us),
    last_start_us = max(report_totals.last_start_us, excluded.last_start_us);
END;
)sql";

// Budget periods (issue #3): calendar years unless the site sets a fiscal year start
// (`jobcarbon budget year-start 04-01`), kept in settings; usage_totals' period_year is then the
// budget year, and changing the start rebuilds the totals. Writers before version 5 split jobs by
// calendar year, which is right while the start is 01-01: 0005 keeps oldest_compatible at 2, and
// setting another start raises it to 5 (see kFiscalOldestCompatible).
constexpr std::string_view k0005BudgetYear = R"sql(
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT INTO settings (key, value) VALUES ('budget_year_start', '01-01');
)sql";

// Idle energy (issue #3, written by issue #4's agents): per node, the energy of intervals in which
// no job ran, so that `report --by node` shows the whole bill. Additive.
constexpr std::string_view k0006NodeIdle = R"sql(
CREATE TABLE node_idle (
  cluster TEXT NOT NULL,
  node TEXT NOT NULL,
  start_us INTEGER NOT NULL,
  end_us INTEGER NOT NULL,
  idle_uj INTEGER NOT NULL,
  PRIMARY KEY (cluster, node, start_us)
);
CREATE INDEX node_idle_by_start ON node_idle (start_us);
)sql";

// Slurm steps (issue #5): one row per job x node x step, written by the node agent when a step
// (a SPANK registration, a sub-record of the job's Prolog registration) ends. A step's energy is
// its CPU-time share of its job's record on the same node, so it lives in its own table: nothing
// that counts (usage_totals, report_totals and its trigger, power_totals, budgets, reports) reads
// it, and the job is never counted twice. record_json is the whole record in ledger/record_json's
// lossless form (what job_steps() reads back); the other columns are for SQL and indexes. Additive.
constexpr std::string_view k0007JobSteps = R"sql(
CREATE TABLE job_steps (
  cluster TEXT NOT NULL,
  job_id TEXT NOT NULL,
  submit_us INTEGER NOT NULL,
  node TEXT NOT NULL,
  step TEXT NOT NULL,
  user_name TEXT NOT NULL DEFAULT '',
  account TEXT NOT NULL DEFAULT '',
  start_us INTEGER NOT NULL,
  end_us INTEGER NOT NULL,
  exit_code INTEGER NOT NULL,
  gpu_uj INTEGER NOT NULL DEFAULT 0,
  cpu_uj INTEGER NOT NULL DEFAULT 0,
  dram_uj INTEGER NOT NULL DEFAULT 0,
  node_uj INTEGER NOT NULL DEFAULT 0,
  estimated_cpu_uj INTEGER NOT NULL DEFAULT 0,
  estimated_memory_uj INTEGER NOT NULL DEFAULT 0,
  charged_uj INTEGER NOT NULL,
  co2_kg REAL NOT NULL,
  record_json TEXT NOT NULL,
  recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  recorded_by TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (cluster, job_id, submit_us, node, step)
);
CREATE INDEX job_steps_by_job_id ON job_steps (job_id);
)sql";

// 0002 raises oldest_compatible to 2: a version-1 binary would append jobs without updating
// usage_totals, and every budget would then read low. Such a binary refuses the ledger (naming
// the version it needs) instead of silently under-counting.
constexpr std::array kSqliteMigrations = {
    Migration{1, "0001_jobs", k0001Jobs, 1},
    Migration{2, "0002_budgets", k0002Budgets, 2},
    Migration{3, "0003_running", k0003Running, 2},
    Migration{4, "0004_report_totals", k0004ReportTotals, 2},
    Migration{5, "0005_budget_year", k0005BudgetYear, 2},
    Migration{6, "0006_node_idle", k0006NodeIdle, 2},
    Migration{7, "0007_job_steps", k0007JobSteps, 2},
};

}  // namespace

std::span<const Migration> sqlite_migrations() {
  return kSqliteMigrations;
}

int latest_schema_version() {
  return kSqliteMigrations.back().version;
}

}  // namespace jobcarbon::ledger
