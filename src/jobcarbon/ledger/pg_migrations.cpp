#include <jobcarbon/ledger/pg_migrations.hpp>

#include <array>

namespace jobcarbon::ledger {
namespace {

// Columns as in SQLite's 0001 (bigint microseconds and microjoules, the same names). Text columns
// compared or ordered by the ledger use COLLATE "C": byte order, as SQLite's, whatever the
// database's locale, so listings and reports sort the same on both backends. The identity column
// needs no sequence privilege, so INSERT on the table is all a writer needs.
constexpr std::string_view k0001Jobs = R"sql(
CREATE TABLE schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  oldest_compatible integer NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  applied_by text NOT NULL DEFAULT ''
);

CREATE TABLE jobs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cluster text COLLATE "C" NOT NULL,
  job_id text COLLATE "C" NOT NULL,
  submit_us bigint NOT NULL,
  step text COLLATE "C" NOT NULL DEFAULT '',
  node text COLLATE "C" NOT NULL,
  user_name text COLLATE "C" NOT NULL DEFAULT '',
  account text COLLATE "C" NOT NULL DEFAULT '',
  start_us bigint NOT NULL,
  end_us bigint NOT NULL,
  exit_code integer NOT NULL,
  command text NOT NULL DEFAULT '[]',
  gpu_uj bigint NOT NULL DEFAULT 0,
  cpu_uj bigint NOT NULL DEFAULT 0,
  dram_uj bigint NOT NULL DEFAULT 0,
  node_uj bigint NOT NULL DEFAULT 0,
  estimated_cpu_uj bigint NOT NULL DEFAULT 0,
  estimated_memory_uj bigint NOT NULL DEFAULT 0,
  charged_uj bigint NOT NULL,
  machine_uj bigint NOT NULL DEFAULT 0,
  unallocated_uj bigint NOT NULL DEFAULT 0,
  method text NOT NULL,
  gpu_count integer NOT NULL DEFAULT 0,
  gpu_model text COLLATE "C" NOT NULL DEFAULT '',
  intensity_kg_per_kwh double precision NOT NULL,
  intensity_zone text NOT NULL DEFAULT '',
  intensity_dataset text NOT NULL DEFAULT '',
  intensity_year integer NOT NULL DEFAULT 0,
  pue double precision NOT NULL DEFAULT 1.0,
  co2_kg double precision NOT NULL,
  report_json text NOT NULL DEFAULT '',
  recorded_at timestamptz NOT NULL DEFAULT now(),
  recorded_by text NOT NULL DEFAULT '',
  UNIQUE (cluster, job_id, submit_us, step, node)
);
CREATE INDEX jobs_by_start ON jobs (start_us);
CREATE INDEX jobs_by_account ON jobs (account, start_us);
CREATE INDEX jobs_by_user ON jobs (user_name, start_us);
CREATE INDEX jobs_by_job_id ON jobs (job_id);

CREATE TABLE job_tags (
  job bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  key text COLLATE "C" NOT NULL,
  value text COLLATE "C" NOT NULL,
  PRIMARY KEY (job, key)
);
CREATE INDEX job_tags_by_key ON job_tags (key, value);

GRANT USAGE ON SCHEMA jobcarbon TO jobcarbon_reader, jobcarbon_writer, jobcarbon_admin;
GRANT SELECT ON schema_migrations, jobs, job_tags
  TO jobcarbon_reader, jobcarbon_writer, jobcarbon_admin;
GRANT INSERT ON jobs, job_tags TO jobcarbon_writer;
)sql";

// SQLite's 0002 plus what only a server can enforce:
// - the audit trail is written by a trigger on budgets (SECURITY DEFINER: no role may INSERT into
//   budget_audit itself), so SQL typed by hand is audited too. `who` is the database role
//   (session_user); client_user is the user jobcarbon reported (set_budget's WHO, through the
//   transaction-local setting jobcarbon.who; '' for SQL by hand). set_budget passes the account's
//   parent before its change in jobcarbon.old_parent ('none' or 'p:NAME'), so the audit's old
//   value shows the old parent as on SQLite.
// - private data (settings.private_data = 'on'): row-level security shows a role that is neither
//   writer nor admin only the jobs whose user is its session_user, and usage totals of its own
//   user rows and of the accounts it belongs to (account_users, or where it has jobs).
// The backfill charges each existing job to the year it started, as SQLite's does.
constexpr std::string_view k0002Budgets = R"sql(
CREATE TABLE budgets (
  account text COLLATE "C" NOT NULL,
  user_name text COLLATE "C" NOT NULL DEFAULT '',
  period_year integer NOT NULL,
  limit_kg double precision NULL,
  limit_uj bigint NULL,
  policy text NOT NULL DEFAULT 'warn' CHECK (policy IN ('warn', 'deny', 'stop')),
  warn_at_bp integer NOT NULL DEFAULT 8000,
  updated_at text NOT NULL,
  updated_by text NOT NULL,
  PRIMARY KEY (account, user_name, period_year)
);

CREATE TABLE budget_audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  who text NOT NULL,
  client_user text NOT NULL DEFAULT '',
  account text COLLATE "C" NOT NULL,
  user_name text COLLATE "C" NOT NULL,
  period_year integer NOT NULL,
  old jsonb NULL,
  new jsonb NULL
);

CREATE TABLE account_parents (
  account text COLLATE "C" PRIMARY KEY,
  parent text COLLATE "C" NOT NULL
);
CREATE INDEX account_parents_by_parent ON account_parents (parent);

CREATE TABLE usage_totals (
  account text COLLATE "C" NOT NULL,
  user_name text COLLATE "C" NOT NULL,
  period_year integer NOT NULL,
  co2_kg double precision NOT NULL DEFAULT 0,
  energy_uj bigint NOT NULL DEFAULT 0,
  jobs bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (account, user_name, period_year)
);

INSERT INTO usage_totals (account, user_name, period_year, co2_kg, energy_uj, jobs)
  SELECT account, user_name,
         extract(year FROM to_timestamp(start_us / 1000000) AT TIME ZONE 'UTC')::integer,
         sum(co2_kg), sum(charged_uj), count(*)
  FROM jobs WHERE user_name <> '' GROUP BY 1, 2, 3;
INSERT INTO usage_totals (account, user_name, period_year, co2_kg, energy_uj, jobs)
  SELECT account, '', extract(year FROM to_timestamp(start_us / 1000000) AT TIME ZONE 'UTC')::integer,
         sum(co2_kg), sum(charged_uj), count(*)
  FROM jobs GROUP BY 1, 3;

CREATE TABLE settings (
  key text PRIMARY KEY,
  value text NOT NULL
);
INSERT INTO settings (key, value) VALUES ('private_data', 'off');

CREATE TABLE account_users (
  account text COLLATE "C" NOT NULL,
  user_name text COLLATE "C" NOT NULL,
  PRIMARY KEY (account, user_name)
);
CREATE INDEX account_users_by_user ON account_users (user_name);

CREATE FUNCTION budget_json(b budgets, parent text) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, jobcarbon AS $f$
  SELECT jsonb_build_object('limit_kg', b.limit_kg, 'limit_uj', b.limit_uj, 'policy', b.policy,
                            'warn_at_bp', b.warn_at_bp)
         || CASE WHEN parent IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('parent', parent) END
$f$;

CREATE FUNCTION audit_budget() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, jobcarbon AS $f$
DECLARE
  b budgets;
  parent_now text;
  parent_before text;
  marker text := current_setting('jobcarbon.old_parent', true);
BEGIN
  IF TG_OP = 'DELETE' THEN b := OLD; ELSE b := NEW; END IF;
  SELECT p.parent INTO parent_now FROM account_parents p WHERE p.account = b.account;
  IF marker IS NULL OR marker = '' THEN
    parent_before := parent_now;
  ELSIF marker = 'none' THEN
    parent_before := NULL;
  ELSE
    parent_before := substr(marker, 3);
  END IF;
  INSERT INTO budget_audit (who, client_user, account, user_name, period_year, old, new)
  VALUES (session_user, coalesce(current_setting('jobcarbon.who', true), ''), b.account,
          b.user_name, b.period_year,
          CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE budget_json(OLD, parent_before) END,
          CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE budget_json(NEW, parent_now) END);
  RETURN NULL;
END
$f$;
CREATE TRIGGER budgets_audit AFTER INSERT OR UPDATE OR DELETE ON budgets
  FOR EACH ROW EXECUTE FUNCTION audit_budget();

CREATE FUNCTION sees_everything() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, jobcarbon AS $f$
  SELECT coalesce((SELECT value FROM settings WHERE key = 'private_data'), 'off') <> 'on'
      OR pg_has_role(session_user, 'jobcarbon_writer', 'MEMBER')
      OR pg_has_role(session_user, 'jobcarbon_admin', 'MEMBER')
$f$;

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY jobs_read ON jobs FOR SELECT
  USING ((SELECT sees_everything()) OR user_name = session_user);
CREATE POLICY jobs_append ON jobs FOR INSERT WITH CHECK (true);

ALTER TABLE job_tags ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_tags_read ON job_tags FOR SELECT
  USING ((SELECT sees_everything()) OR EXISTS (SELECT 1 FROM jobs j WHERE j.id = job_tags.job));
CREATE POLICY job_tags_append ON job_tags FOR INSERT WITH CHECK (true);

ALTER TABLE usage_totals ENABLE ROW LEVEL SECURITY;
CREATE POLICY usage_totals_read ON usage_totals FOR SELECT
  USING ((SELECT sees_everything()) OR user_name = session_user
         OR (user_name = '' AND (
               account IN (SELECT a.account FROM account_users a WHERE a.user_name = session_user)
               OR account IN (SELECT j.account FROM jobs j WHERE j.user_name = session_user))));
CREATE POLICY usage_totals_add ON usage_totals FOR INSERT WITH CHECK (true);
CREATE POLICY usage_totals_update ON usage_totals FOR UPDATE USING (true);

ALTER TABLE account_users ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_users_read ON account_users FOR SELECT
  USING ((SELECT sees_everything()) OR user_name = session_user);
CREATE POLICY account_users_change ON account_users FOR ALL
  USING (pg_has_role(session_user, 'jobcarbon_admin', 'MEMBER'))
  WITH CHECK (pg_has_role(session_user, 'jobcarbon_admin', 'MEMBER'));

GRANT SELECT ON budgets, budget_audit, account_parents, usage_totals, settings, account_users
  TO jobcarbon_reader, jobcarbon_writer, jobcarbon_admin;
GRANT INSERT, UPDATE ON usage_totals TO jobcarbon_writer;
GRANT INSERT, UPDATE, DELETE ON budgets, account_parents, settings, account_users
  TO jobcarbon_admin;
)sql";

// Running jobs, learned power, CPUs and work done: as SQLite's 0003 (migrations.cpp), additive.
constexpr std::string_view k0003Running = R"sql(
CREATE TABLE running_jobs (
  cluster text COLLATE "C" NOT NULL,
  job_id text COLLATE "C" NOT NULL,
  submit_us bigint NOT NULL,
  step text COLLATE "C" NOT NULL DEFAULT '',
  node text COLLATE "C" NOT NULL,
  user_name text COLLATE "C" NOT NULL DEFAULT '',
  account text COLLATE "C" NOT NULL DEFAULT '',
  start_us bigint NOT NULL,
  updated_us bigint NOT NULL,
  charged_uj bigint NOT NULL,
  co2_kg double precision NOT NULL,
  gpu_count integer NOT NULL DEFAULT 0,
  gpu_model text COLLATE "C" NOT NULL DEFAULT '',
  PRIMARY KEY (cluster, job_id, submit_us, step, node)
);
CREATE INDEX running_jobs_by_account
  ON running_jobs (account, user_name, start_us, updated_us, charged_uj, co2_kg);

CREATE TABLE power_totals (
  device text COLLATE "C" NOT NULL,
  model text COLLATE "C" NOT NULL,
  energy_j double precision NOT NULL DEFAULT 0,
  device_seconds double precision NOT NULL DEFAULT 0,
  jobs bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (device, model)
);

ALTER TABLE jobs ADD COLUMN cpus double precision NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN work_count double precision NULL;
ALTER TABLE jobs ADD COLUMN work_unit text NOT NULL DEFAULT '';

INSERT INTO power_totals (device, model, energy_j, device_seconds, jobs)
  SELECT 'gpu', gpu_model, sum(gpu_uj) / 1e6, sum(gpu_count * (end_us - start_us) / 1e6),
         count(*)
  FROM jobs WHERE gpu_count > 0 AND end_us - start_us >= 10000000 GROUP BY gpu_model;

ALTER TABLE running_jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY running_jobs_read ON running_jobs FOR SELECT
  USING ((SELECT sees_everything()) OR user_name = session_user);
CREATE POLICY running_jobs_add ON running_jobs FOR INSERT WITH CHECK (true);
CREATE POLICY running_jobs_update ON running_jobs FOR UPDATE USING (true);
CREATE POLICY running_jobs_remove ON running_jobs FOR DELETE USING (true);

GRANT SELECT ON running_jobs, power_totals TO jobcarbon_reader, jobcarbon_writer, jobcarbon_admin;
GRANT INSERT, UPDATE, DELETE ON running_jobs TO jobcarbon_writer;
GRANT INSERT, UPDATE ON power_totals TO jobcarbon_writer;
)sql";

// Report roll-ups: as SQLite's 0004 (migrations.cpp); a version-3 writer would not keep them.
constexpr std::string_view k0004ReportTotals = R"sql(
CREATE TABLE report_totals (
  account text COLLATE "C" NOT NULL,
  user_name text COLLATE "C" NOT NULL,
  month_us bigint NOT NULL,
  jobs bigint NOT NULL DEFAULT 0,
  records bigint NOT NULL DEFAULT 0,
  gpu_hours double precision NOT NULL DEFAULT 0,
  charged_uj bigint NOT NULL DEFAULT 0,
  facility_kwh double precision NOT NULL DEFAULT 0,
  machine_uj bigint NOT NULL DEFAULT 0,
  unallocated_uj bigint NOT NULL DEFAULT 0,
  co2_kg double precision NOT NULL DEFAULT 0,
  first_start_us bigint NOT NULL,
  last_start_us bigint NOT NULL,
  PRIMARY KEY (account, user_name, month_us)
);

INSERT INTO report_totals (account, user_name, month_us, jobs, records, gpu_hours, charged_uj,
  facility_kwh, machine_uj, unallocated_uj, co2_kg, first_start_us, last_start_us)
  SELECT account, user_name,
    extract(epoch FROM date_trunc('month',
      to_timestamp(start_us / 1000000) AT TIME ZONE 'UTC'))::bigint * 1000000,
    count(DISTINCT (cluster, job_id, submit_us)), count(*),
    sum(gpu_count::bigint * (end_us - start_us)) / 3.6e9, sum(charged_uj),
    sum(charged_uj * pue) / 3.6e12, sum(machine_uj), sum(unallocated_uj), sum(co2_kg),
    min(start_us), max(start_us)
  FROM jobs GROUP BY 1, 2, 3;

ALTER TABLE report_totals ENABLE ROW LEVEL SECURITY;
CREATE POLICY report_totals_read ON report_totals FOR SELECT
  USING ((SELECT sees_everything()) OR user_name = session_user);
CREATE POLICY report_totals_add ON report_totals FOR INSERT WITH CHECK (true);
CREATE POLICY report_totals_update ON report_totals FOR UPDATE USING (true);
GRANT SELECT ON report_totals TO jobcarbon_reader, jobcarbon_writer, jobcarbon_admin;
GRANT INSERT, UPDATE ON report_totals TO jobcarbon_writer;

-- Kept by a trigger, in the inserting transaction, so older writers keep the roll-ups too.
CREATE FUNCTION add_report_totals() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  INSERT INTO report_totals AS t (account, user_name, month_us, jobs, records, gpu_hours,
    charged_uj, facility_kwh, machine_uj, unallocated_uj, co2_kg, first_start_us, last_start_us)
  VALUES (NEW.account, NEW.user_name,
    extract(epoch FROM date_trunc('month',
      to_timestamp(NEW.start_us / 1000000) AT TIME ZONE 'UTC'))::bigint * 1000000,
    CASE WHEN (SELECT count(*) FROM jobs x WHERE x.cluster = NEW.cluster
               AND x.job_id = NEW.job_id AND x.submit_us = NEW.submit_us) = 1 THEN 1 ELSE 0 END,
    1, NEW.gpu_count::bigint * (NEW.end_us - NEW.start_us) / 3.6e9, NEW.charged_uj,
    NEW.charged_uj * NEW.pue / 3.6e12, NEW.machine_uj, NEW.unallocated_uj, NEW.co2_kg,
    NEW.start_us, NEW.start_us)
  ON CONFLICT (account, user_name, month_us) DO UPDATE SET
    jobs = t.jobs + excluded.jobs, records = t.records + 1,
    gpu_hours = t.gpu_hours + excluded.gpu_hours, charged_uj = t.charged_uj + excluded.charged_uj,
    facility_kwh = t.facility_kwh + excluded.facility_kwh,
    machine_uj = t.machine_uj + excluded.machine_uj,
    unallocated_uj = t.unallocated_uj + excluded.unallocated_uj, co2_kg = t.co2_kg + excluded.co2_kg,
    first_start_us = least(t.first_start_us, excluded.first_start_us),
    last_start_us = greatest(t.last_start_us, excluded.last_start_us);
  RETURN NULL;
END
$f$;
CREATE TRIGGER jobs_report_totals AFTER INSERT ON jobs
  FOR EACH ROW EXECUTE FUNCTION add_report_totals();
)sql";

// Budget periods: as SQLite's 0005. The admin role rebuilds usage_totals when it changes the year
// start, so it may write them (and RLS lets it delete them).
constexpr std::string_view k0005BudgetYear = R"sql(
INSERT INTO settings (key, value) VALUES ('budget_year_start', '01-01')
  ON CONFLICT (key) DO NOTHING;
CREATE POLICY usage_totals_remove ON usage_totals FOR DELETE
  USING (pg_has_role(session_user, 'jobcarbon_admin', 'MEMBER'));
GRANT INSERT, UPDATE, DELETE ON usage_totals TO jobcarbon_admin;
GRANT UPDATE (oldest_compatible) ON schema_migrations TO jobcarbon_admin;
)sql";

// Idle energy: as SQLite's 0006. Site-level, so readers see all of it (no row-level security).
constexpr std::string_view k0006NodeIdle = R"sql(
CREATE TABLE node_idle (
  cluster text COLLATE "C" NOT NULL,
  node text COLLATE "C" NOT NULL,
  start_us bigint NOT NULL,
  end_us bigint NOT NULL,
  idle_uj bigint NOT NULL,
  PRIMARY KEY (cluster, node, start_us)
);
CREATE INDEX node_idle_by_start ON node_idle (start_us);
GRANT SELECT ON node_idle TO jobcarbon_reader, jobcarbon_writer, jobcarbon_admin;
GRANT INSERT ON node_idle TO jobcarbon_writer;
)sql";

// Slurm steps: as SQLite's 0007 (migrations.cpp). Readers see the rows of their own jobs when
// private data is on, exactly as jobs_read; writers append; nobody changes or deletes a step.
// record_json is text, not jsonb: jsonb refuses a \u0000 escape that a record may hold.
constexpr std::string_view k0007JobSteps = R"sql(
CREATE TABLE job_steps (
  cluster text COLLATE "C" NOT NULL,
  job_id text COLLATE "C" NOT NULL,
  submit_us bigint NOT NULL,
  node text COLLATE "C" NOT NULL,
  step text COLLATE "C" NOT NULL,
  user_name text COLLATE "C" NOT NULL DEFAULT '',
  account text COLLATE "C" NOT NULL DEFAULT '',
  start_us bigint NOT NULL,
  end_us bigint NOT NULL,
  exit_code integer NOT NULL,
  gpu_uj bigint NOT NULL DEFAULT 0,
  cpu_uj bigint NOT NULL DEFAULT 0,
  dram_uj bigint NOT NULL DEFAULT 0,
  node_uj bigint NOT NULL DEFAULT 0,
  estimated_cpu_uj bigint NOT NULL DEFAULT 0,
  estimated_memory_uj bigint NOT NULL DEFAULT 0,
  charged_uj bigint NOT NULL,
  co2_kg double precision NOT NULL,
  record_json text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  recorded_by text NOT NULL DEFAULT '',
  PRIMARY KEY (cluster, job_id, submit_us, node, step)
);
CREATE INDEX job_steps_by_job_id ON job_steps (job_id);

ALTER TABLE job_steps ENABLE ROW LEVEL SECURITY;
CREATE POLICY job_steps_read ON job_steps FOR SELECT
  USING ((SELECT sees_everything()) OR user_name = session_user);
CREATE POLICY job_steps_append ON job_steps FOR INSERT WITH CHECK (true);
GRANT SELECT ON job_steps TO jobcarbon_reader, jobcarbon_writer, jobcarbon_admin;
GRANT INSERT ON job_steps TO jobcarbon_writer;
)sql";

// Versions, names and oldest_compatible as kSqliteMigrations (migrations.cpp).
constexpr std::array kPgMigrations = {
    Migration{1, "0001_jobs", k0001Jobs, 1},
    Migration{2, "0002_budgets", k0002Budgets, 2},
    Migration{3, "0003_running", k0003Running, 2},
    Migration{4, "0004_report_totals", k0004ReportTotals, 2},
    Migration{5, "0005_budget_year", k0005BudgetYear, 2},
    Migration{6, "0006_node_idle", k0006NodeIdle, 2},
    Migration{7, "0007_job_steps", k0007JobSteps, 2},
};

}  // namespace

std::span<const Migration> pg_migrations() {
  return kPgMigrations;
}

}  // namespace jobcarbon::ledger
