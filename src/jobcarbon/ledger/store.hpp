// The ledger stage: where finished job records are kept. One interface, backends opened by URL:
// SQLite (embedded default: a file per user or per machine) now, PostgreSQL (a cluster's central
// ledger) in issue #3. Failures are values naming the ledger.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <jobcarbon/ledger/budget_record.hpp>
#include <jobcarbon/ledger/job_record.hpp>
#include <jobcarbon/ledger/report_query.hpp>
#include <jobcarbon/policy/budget_period.hpp>

namespace jobcarbon::ledger {

// Which records list_jobs returns.
struct JobFilter {
  std::optional<std::string> account;  // only this account
  std::optional<std::string> user;     // only this user
  std::optional<std::size_t> last;     // only the newest N records
  bool with_report = false;            // also load report_json (large; `show` needs it)
};

// Power per device learned from the ledger's finished jobs: the energy of a kind of device over
// the device-time of the jobs that used it. Running totals kept in each append's transaction
// (table power_totals), so reading them costs a row, not a scan. A value is nullopt until at
// least one job with such devices (and, for CPUs, a known CPU count) lasting at least
// kMinLearnSeconds is recorded.
struct TypicalPower {
  std::optional<double> gpu_watts;  // per GPU
  std::int64_t gpu_jobs = 0;        // jobs it was learned from
  std::optional<double> cpu_watts;  // per CPU (packages, DRAM and CPU estimates)
  std::int64_t cpu_jobs = 0;
};

// Jobs shorter than this teach nothing about power (start-up dominates them).
inline constexpr double kMinLearnSeconds = 10.0;

class Store {
 public:
  virtual ~Store() = default;

  // Write one finished job record, atomically with its tags. Return true when it was written,
  // false when a record with the same key already exists (then nothing changes: a retried write
  // is a no-op), or an error naming the ledger (busy past the timeout, read-only, damaged) or
  // the invalid field.
  virtual std::expected<bool, std::string> append(const JobRecord& record) = 0;

  // Return the records that pass the filter, newest first (by start time, then by order of
  // writing). report_json is empty unless filter.with_report.
  virtual std::expected<std::vector<JobRecord>, std::string> list_jobs(const JobFilter& filter) = 0;

  // Return every record of JOB_ID (any cluster, submit time, node and step) with its tags and
  // report_json, ordered by cluster, submit time, node, step; empty when the ledger has none.
  virtual std::expected<std::vector<JobRecord>, std::string> job_records(
      const std::string& job_id) = 0;

  // Return QUERY's usage rows, one per group that has records, ordered by key; budget_percent is
  // left unset (attach_budget_percents fills it).
  virtual std::expected<std::vector<ReportRow>, std::string> report_rows(
      const ReportQuery& query) = 0;

  // Budgets (migration 0002). Periods are calendar years in UTC.

  // Store BUDGET (replacing the one with the same account, user and year) and, when PARENT is
  // set, record that PARENT is the account's parent; append an audit row (who, when, old, new)
  // in the same transaction. WHO is recorded as updated_by. Error, with nothing changed: an
  // invalid budget (empty account, year outside 1..9999, not exactly one limit, a negative or
  // non-finite limit, warn_at outside 0..100 %), a parent that would make a cycle, a caller not
  // allowed to change budgets on this ledger, or the ledger's own errors.
  virtual std::expected<void, std::string> set_budget(const BudgetRecord& budget,
                                                      const std::optional<std::string>& parent,
                                                      const std::string& who) = 0;

  // Return the budgets for ACCOUNT (all when nullopt) and YEAR (all when nullopt), ordered by
  // year, account, user.
  virtual std::expected<std::vector<BudgetRecord>, std::string> list_budgets(
      const std::optional<std::string>& account, std::optional<int> year) = 0;

  // Return the usage of finished jobs charged to ACCOUNT and its descendants (account_parents)
  // in YEAR: all users when USER is "", else only USER's jobs. Read from the running totals.
  virtual std::expected<Usage, std::string> usage(const std::string& account,
                                                  const std::string& user, int year) = 0;

  // Return the usage of finished jobs charged to ACCOUNT and its descendants (USER's only unless
  // "") that started in [FROM, TO), each job wholly: the recent rate for `budget show`'s
  // projection. Scans those jobs (an index on account and start), so keep the window short.
  virtual std::expected<Usage, std::string> usage_between(const std::string& account,
                                                          const std::string& user, Timestamp from,
                                                          Timestamp to) = 0;

  // Return ACCOUNT followed by its parent, grandparent, ... up to the root (a cycle, which
  // set_budget refuses but SQL by hand could create, ends the chain).
  virtual std::expected<std::vector<std::string>, std::string> account_chain(
      const std::string& account) = 0;

  // Running jobs (migration 0003).

  // Store RUNNING's provisional usage, replacing an older one with the same key (a report whose
  // `updated` is older than the stored one is ignored, so a late retry never moves usage back).
  // Return true when stored, false when the job's final record exists already (then nothing
  // changes), or an error naming the ledger or the invalid field.
  virtual std::expected<bool, std::string> update_running(const RunningRecord& running) = 0;

  // Return the running jobs (those with provisional usage and no final record yet) that pass
  // the filter (account, user, last; with_report is ignored), newest start first.
  virtual std::expected<std::vector<RunningRecord>, std::string> list_running(
      const JobFilter& filter) = 0;

  // Return running jobs' provisional usage charged to ACCOUNT and its descendants in YEAR (all
  // users when USER is ""), each job's part in the year in proportion to the time it ran in it.
  virtual std::expected<Usage, std::string> running_usage(const std::string& account,
                                                          const std::string& user, int year) = 0;

  // Return the typical power of a device learned from finished jobs (see TypicalPower):
  // GPU_MODEL's GPUs ("" = all GPU models together) and CPUs.
  virtual std::expected<TypicalPower, std::string> typical_power(const std::string& gpu_model) = 0;

  // Idle energy (migration 0006). Store one idle interval of a node; return true when written,
  // false when an interval with the same (cluster, node, start) exists (a retried write), or an
  // error naming the ledger or the invalid field (empty node, end before start, negative energy).
  virtual std::expected<bool, std::string> append_idle(const NodeIdle& idle) = 0;

  // Slurm steps (migration 0007). A step's record (JobRecord with step "batch", "0", ...) holds
  // its CPU-time share of its job's record on the same node: it is kept apart, in job_steps, so
  // that it is never counted twice. Budgets, usage totals, reports, typical power, list_jobs and
  // job_records never see steps.

  // Store one step record. Return true when written, false when a step with the same key
  // (cluster, job id, submit time, node, step) exists (a retried write: nothing changes), or an
  // error naming the ledger or the invalid field (invalid_step: e.g. step "" or "job", which
  // name the job's own record).
  virtual std::expected<bool, std::string> append_step(const JobRecord& step) = 0;

  // Return every step record of JOB_ID (any cluster, submit time and node), exactly as written
  // (tags and report_json included), ordered by cluster, submit time, node, start, then step;
  // empty when the ledger has none.
  virtual std::expected<std::vector<JobRecord>, std::string> job_steps(
      const std::string& job_id) = 0;

  // Budget periods (migration 0005): calendar years in UTC unless the site set a fiscal year
  // start; budgets' and usage's `year` name the period that starts in that calendar year.

  // Return the ledger's budget year start (January 1: calendar years).
  virtual std::expected<policy::YearStart, std::string> budget_year_start() = 0;

  // Set the budget year start and rebuild every running total (usage_totals) from the jobs, split
  // by the new periods, in one transaction. Error, with nothing changed: a caller not allowed to
  // change budgets, or the ledger's own errors.
  virtual std::expected<void, std::string> set_budget_year_start(policy::YearStart from) = 0;

  // Return the schema version of the opened ledger (may be newer than latest_schema_version()
  // when a newer jobcarbon migrated it and declared the change compatible).
  virtual int schema_version() const = 0;

  // Return the ledger as people should see it in messages: "sqlite:/home/a/.local/share/...".
  virtual std::string describe() const = 0;
};

enum class OpenMode {
  kReadWrite,  // create the ledger when missing, migrate it when older
  kReadOnly,   // never create or change anything; a missing ledger is an error
};

// Where a ledger URL points.
struct LedgerLocation {
  enum class Backend { kSqlite, kPostgresql };
  Backend backend = Backend::kSqlite;
  std::filesystem::path path;  // SQLite: the database file
  std::string url;             // PostgreSQL: the connection string as given
};

// Return where a ledger URL or path points: "sqlite:////abs/path" (absolute),
// "sqlite:///rel/path" and "sqlite:rel/path" (relative to the working directory), a plain path,
// or "postgresql://..." / "postgres://...". Error for an empty path, a host in a SQLite URL,
// or an unknown scheme.
std::expected<LedgerLocation, std::string> parse_ledger_url(const std::string& url_or_path);

// Return a Store for the ledger at url_or_path (see parse_ledger_url): open_sqlite_store or, for
// postgresql:// and postgres:// URLs, open_pg_store (libpq is loaded at run time only then; an
// error says so when it is not installed).
std::expected<std::unique_ptr<Store>, std::string> open_store(const std::string& url_or_path,
                                                              OpenMode mode = OpenMode::kReadWrite);

// Return the first problem with a record that no backend may store ("job_id is empty",
// "method is 'guessed': expected measured, estimated or mixed"), or nullopt when it is valid.
std::optional<std::string> invalid_field(const JobRecord& record);

// Return the first problem with a step record that no backend may store: invalid_field's, a
// step that is empty or "job" (the job's own record, for Store::append), a negative energy or a
// figure that is not a finite number (a step is kept as lossless JSON, which has no NaN); nullopt
// when it is valid.
std::optional<std::string> invalid_step(const JobRecord& step);

// Return the first problem with a running job's record that no backend may store ("updated is
// before start", ...), or nullopt when it is valid.
std::optional<std::string> invalid_running(const RunningRecord& running);

// Return the first problem with an idle interval that no backend may store, or nullopt.
std::optional<std::string> invalid_idle(const NodeIdle& idle);

// The environment values that decide the default ledger; tests pass their own.
struct LedgerEnvironment {
  std::optional<std::string> jobcarbon_ledger;  // $JOBCARBON_LEDGER
  std::optional<std::string> xdg_data_home;     // $XDG_DATA_HOME
  std::optional<std::string> home;              // $HOME

  // Return the values of this process's environment.
  static LedgerEnvironment from_process();
};

// Return $XDG_DATA_HOME/jobcarbon/ledger.db, or ~/.local/share/jobcarbon/ledger.db when
// XDG_DATA_HOME is unset, empty or relative (as the XDG spec says), creating the missing
// directories with mode 0700. Error when neither variable gives an absolute directory or a
// directory cannot be created.
std::expected<std::filesystem::path, std::string> default_ledger_path(const LedgerEnvironment& env);

// Return default_ledger_path(LedgerEnvironment::from_process()).
std::expected<std::filesystem::path, std::string> default_ledger_path();

// Return the ledger to use: the --ledger flag, else $JOBCARBON_LEDGER, else the config file's
// `ledger` key, else default_ledger_path(env). Empty strings count as unset.
std::expected<std::string, std::string> resolve_ledger(const std::optional<std::string>& flag,
                                                       const std::optional<std::string>& config,
                                                       const LedgerEnvironment& env);

}  // namespace jobcarbon::ledger
