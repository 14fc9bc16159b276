#include <jobcarbon/ledger/sqlite_store.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/migrations.hpp>
#include <jobcarbon/ledger/sqlite_budgets.hpp>
#include <jobcarbon/ledger/sqlite_connection.hpp>
#include <jobcarbon/ledger/sqlite_periods.hpp>
#include <jobcarbon/ledger/sqlite_reports.hpp>
#include <jobcarbon/ledger/sqlite_running.hpp>
#include <jobcarbon/ledger/sqlite_schema.hpp>
#include <jobcarbon/ledger/sqlite_steps.hpp>

namespace jobcarbon::ledger {
namespace {

constexpr std::string_view kInsertJob = R"sql(
INSERT INTO jobs (cluster, job_id, submit_us, step, node, user_name, account, start_us, end_us,
  exit_code, command, gpu_uj, cpu_uj, dram_uj, node_uj, estimated_cpu_uj, estimated_memory_uj,
  charged_uj, machine_uj, unallocated_uj, method, gpu_count, gpu_model, intensity_kg_per_kwh,
  intensity_zone, intensity_dataset, intensity_year, pue, co2_kg, report_json, recorded_by, cpus,
  work_count, work_unit)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
  ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34)
ON CONFLICT (cluster, job_id, submit_us, step, node) DO NOTHING
)sql";

constexpr std::string_view kInsertTag =
    "INSERT INTO job_tags (job, key, value) VALUES (?1, ?2, ?3)";

// Column order of kSelectJobs is the order read_job() reads.
constexpr std::string_view kSelectJobs = R"sql(
SELECT id, cluster, job_id, submit_us, step, node, user_name, account, start_us, end_us,
  exit_code, command, gpu_uj, cpu_uj, dram_uj, node_uj, estimated_cpu_uj, estimated_memory_uj,
  charged_uj, machine_uj, unallocated_uj, method, gpu_count, gpu_model, intensity_kg_per_kwh,
  intensity_zone, intensity_dataset, intensity_year, pue, co2_kg, cpus, work_count, work_unit, )sql";

// The WAL (write-ahead log) between checkpoints. Each process that opens the ledger while no
// other has it open re-reads the whole WAL (~1 ms per MB here), and SQLite's auto-checkpoint
// cannot help across processes: rewinding the WAL needs a checkpoint by the process that writes
// next, and each `jobcarbon run` writes once. So the Store leaves the WAL short when it closes
// (see ~SqliteStore), and while it stays open checkpoints as SQLite's auto-checkpoint would.
constexpr int kCloseCheckpointFrames = 128;  // 512 KiB at 4 KiB pages
constexpr int kOpenCheckpointFrames = 1000;  // SQLite's default auto-checkpoint

struct WalState {
  int frames = 0;  // the WAL's length after our last commit
};

// The WAL hook: called after each commit with the WAL's length in frames (pages).
int after_commit(void* arg, sqlite3* db, const char* schema, int frames) {
  static_cast<WalState*>(arg)->frames = frames;
  if (frames >= kOpenCheckpointFrames) {
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
  return SQLITE_OK;  // the commit itself succeeded either way
}

// A reader of a WAL-mode ledger needs its -shm file, and creates it (with the -wal file) when
// missing. Another user's ledger in a directory we cannot write, whose -wal was removed (by a
// checkpoint from the sqlite3 shell), could then not be read at all. With no -wal file every
// record is in the database file itself, so it is read as immutable instead: no lock files, and
// what a writer adds meanwhile is simply not seen by this listing.
bool needs_immutable_read(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path.string() + "-wal", ec)) return false;
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  return ::access(dir.c_str(), W_OK) != 0;
}

// Return "file:PATH?immutable=1" with PATH percent-encoded as SQLite's URI filenames require.
std::string immutable_uri(const std::filesystem::path& path) {
  std::error_code ec;
  auto absolute = std::filesystem::absolute(path, ec);
  if (ec) absolute = path;
  std::string out = "file:";
  for (unsigned char c : absolute.string()) {
    const bool plain = std::isalnum(c) || std::string_view("/-._~").find(static_cast<char>(c)) !=
                                              std::string_view::npos;
    out += plain ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02X}", c);
  }
  return out + "?immutable=1";
}

std::vector<std::string> command_from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> out;
  if (!j.is_array()) return {text};  // edited by hand: keep what is there, readable
  for (const auto& a : j) out.push_back(a.is_string() ? a.get<std::string>() : a.dump());
  return out;
}

JobRecord read_job(const SqliteStatement& s) {
  JobRecord r;
  int c = 1;  // column 0 is the row id
  r.cluster = s.text(c++);
  r.job_id = s.text(c++);
  r.submit_time = from_us(s.int64(c++));
  r.step = s.text(c++);
  r.node = s.text(c++);
  r.user = s.text(c++);
  r.account = s.text(c++);
  r.start = from_us(s.int64(c++));
  r.end = from_us(s.int64(c++));
  r.exit_code = static_cast<int>(s.int64(c++));
  r.command = command_from_json(s.text(c++));
  for (Microjoules* e :
       {&r.energy.gpu, &r.energy.cpu, &r.energy.dram, &r.energy.node, &r.energy.estimated_cpu,
        &r.energy.estimated_memory, &r.energy_charged, &r.machine_energy, &r.unallocated_energy}) {
    *e = Microjoules(s.int64(c++));
  }
  r.method = s.text(c++);
  r.gpu_count = static_cast<int>(s.int64(c++));
  r.gpu_model = s.text(c++);
  r.intensity_kg_per_kwh = s.real(c++);
  r.intensity_zone = s.text(c++);
  r.intensity_dataset = s.text(c++);
  r.intensity_year = static_cast<int>(s.int64(c++));
  r.pue = s.real(c++);
  r.co2_kg = s.real(c++);
  r.cpus = s.real(c++);
  if (!s.is_null(c)) r.work_count = s.real(c);
  ++c;
  r.work_unit = s.text(c++);
  r.report_json = s.text(c++);
  return r;
}

class SqliteStore final : public Store {
 public:
  SqliteStore(SqliteConnection db, int version) : db_(std::move(db)), version_(version) {
    sqlite3_wal_hook(db_.get(), after_commit, &wal_);
  }
  SqliteStore(const SqliteStore&) = delete;  // the WAL hook holds a pointer into this object
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Past kCloseCheckpointFrames, copy the WAL into the database and truncate it: one run in a
  // dozen or so pays the syncs (~15 ms), every open stays fast. Without waiting: while others
  // use the ledger the checkpoint copies what it can, and a later writer truncates.
  ~SqliteStore() override {
    if (wal_.frames >= kCloseCheckpointFrames) {
      sqlite3_busy_timeout(db_.get(), 0);
      sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    }
  }

  std::expected<bool, std::string> append(const JobRecord& r) override {
    if (auto bad = invalid_field(r)) {
      return std::unexpected(fmt::format("{}: {}", describe(), *bad));
    }
    if (!insert_job_) {
      auto j = db_.prepare(kInsertJob);
      auto t = db_.prepare(kInsertTag);
      if (!j) return std::unexpected(j.error());
      if (!t) return std::unexpected(t.error());
      insert_job_ = std::move(*j);
      insert_tag_ = std::move(*t);
    }
    // IMMEDIATE takes the write lock up front, so the busy timeout applies to it; a deferred
    // transaction that upgrades later can fail at once with SQLITE_BUSY under several writers.
    if (auto b = db_.exec("BEGIN IMMEDIATE"); !b) return std::unexpected(b.error());
    auto inserted = insert(r);
    insert_job_.reset();
    insert_tag_.reset();
    if (!inserted) {
      (void)db_.exec("ROLLBACK");
      return inserted;
    }
    if (auto c = db_.exec("COMMIT"); !c) {
      (void)db_.exec("ROLLBACK");
      return std::unexpected(c.error());
    }
    return inserted;
  }

  std::expected<std::vector<JobRecord>, std::string> list_jobs(const JobFilter& f) override {
    std::string sql(kSelectJobs);
    sql += f.with_report ? "report_json" : "''";
    sql += " FROM jobs";
    std::vector<std::string> where;
    if (f.account) where.push_back("account = ?1");
    if (f.user) where.push_back("user_name = ?2");
    for (std::size_t i = 0; i < where.size(); ++i) sql += (i == 0 ? " WHERE " : " AND ") + where[i];
    sql += " ORDER BY start_us DESC, id DESC";
    if (f.last) sql += " LIMIT ?3";
    auto stmt = db_.prepare(sql);
    if (!stmt) return std::unexpected(stmt.error());
    if (f.account) stmt->bind(1, *f.account);
    if (f.user) stmt->bind(2, *f.user);
    if (f.last) stmt->bind(3, static_cast<std::int64_t>(std::min<std::size_t>(*f.last, INT64_MAX)));
    return read_jobs(*stmt);
  }

  std::expected<std::vector<JobRecord>, std::string> job_records(
      const std::string& job_id) override {
    auto stmt = db_.prepare(std::string(kSelectJobs) +
                            "report_json FROM jobs WHERE job_id = ?1 "
                            "ORDER BY cluster, submit_us, node, step, id");
    if (!stmt) return std::unexpected(stmt.error());
    stmt->bind(1, job_id);
    return read_jobs(*stmt);
  }

  std::expected<std::vector<ReportRow>, std::string> report_rows(
      const ReportQuery& query) override {
    return ledger::report_rows(db_, query);
  }

  std::expected<void, std::string> set_budget(const BudgetRecord& budget,
                                              const std::optional<std::string>& parent,
                                              const std::string& who) override {
    return ledger::set_budget(db_, budget, parent, who);
  }

  std::expected<std::vector<BudgetRecord>, std::string> list_budgets(
      const std::optional<std::string>& account, std::optional<int> year) override {
    return ledger::list_budgets(db_, account, year);
  }

  std::expected<Usage, std::string> usage(const std::string& account, const std::string& user,
                                          int year) override {
    return ledger::usage(db_, account, user, year);
  }

  std::expected<Usage, std::string> usage_between(const std::string& account,
                                                  const std::string& user, Timestamp from,
                                                  Timestamp to) override {
    return ledger::usage_between(db_, account, user, from, to);
  }

  std::expected<std::vector<std::string>, std::string> account_chain(
      const std::string& account) override {
    return ledger::account_chain(db_, account);
  }

  std::expected<bool, std::string> update_running(const RunningRecord& running) override {
    return ledger::update_running(db_, running);
  }

  std::expected<std::vector<RunningRecord>, std::string> list_running(
      const JobFilter& filter) override {
    return ledger::list_running(db_, filter);
  }

  std::expected<Usage, std::string> running_usage(const std::string& account,
                                                  const std::string& user, int year) override {
    return ledger::running_usage(db_, account, user, year);
  }

  std::expected<TypicalPower, std::string> typical_power(const std::string& gpu_model) override {
    return ledger::typical_power(db_, gpu_model);
  }

  std::expected<bool, std::string> append_idle(const NodeIdle& idle) override {
    return ledger::append_idle(db_, idle);
  }

  std::expected<bool, std::string> append_step(const JobRecord& step) override {
    return ledger::append_step(db_, step);
  }

  std::expected<std::vector<JobRecord>, std::string> job_steps(const std::string& job_id) override {
    return ledger::job_steps(db_, job_id);
  }

  std::expected<policy::YearStart, std::string> budget_year_start() override {
    return read_year_start(db_);
  }

  std::expected<void, std::string> set_budget_year_start(policy::YearStart from) override {
    return set_year_start(db_, from);
  }

  int schema_version() const override { return version_; }

  std::string describe() const override { return "sqlite:" + db_.path().string(); }

 private:
  // Return the jobs STMT selects (kSelectJobs' columns) with their tags, read in one transaction
  // so that the jobs and their tags come from the same snapshot.
  std::expected<std::vector<JobRecord>, std::string> read_jobs(SqliteStatement& stmt) {
    auto tags = db_.prepare("SELECT key, value FROM job_tags WHERE job = ?1");
    if (!tags) return std::unexpected(tags.error());
    if (auto b = db_.exec("BEGIN"); !b) return std::unexpected(b.error());
    std::vector<JobRecord> out;
    int rc;
    while ((rc = stmt.step()) == SQLITE_ROW) {
      out.push_back(read_job(stmt));
      tags->bind(1, stmt.int64(0));
      int trc;
      while ((trc = tags->step()) == SQLITE_ROW) out.back().tags[tags->text(0)] = tags->text(1);
      tags->reset();
      if (trc != SQLITE_DONE) {
        rc = trc;
        break;
      }
    }
    const std::string err = rc == SQLITE_DONE ? "" : db_.error(rc);
    (void)db_.exec("COMMIT");
    if (!err.empty()) return std::unexpected(err);
    return out;
  }

  // Insert the record and its tags; the caller owns the transaction.
  std::expected<bool, std::string> insert(const JobRecord& r) {
    auto& s = insert_job_;
    int i = 1;
    s.bind(i++, r.cluster);
    s.bind(i++, r.job_id);
    s.bind(i++, to_us(r.submit_time));
    s.bind(i++, r.step);
    s.bind(i++, r.node);
    s.bind(i++, r.user);
    s.bind(i++, r.account);
    s.bind(i++, to_us(r.start));
    s.bind(i++, to_us(r.end));
    s.bind(i++, r.exit_code);
    s.bind(i++, nlohmann::json(r.command).dump());
    for (Microjoules e :
         {r.energy.gpu, r.energy.cpu, r.energy.dram, r.energy.node, r.energy.estimated_cpu,
          r.energy.estimated_memory, r.energy_charged, r.machine_energy, r.unallocated_energy}) {
      s.bind(i++, e.value);
    }
    s.bind(i++, r.method);
    s.bind(i++, r.gpu_count);
    s.bind(i++, r.gpu_model);
    s.bind(i++, r.intensity_kg_per_kwh);
    s.bind(i++, r.intensity_zone);
    s.bind(i++, r.intensity_dataset);
    s.bind(i++, r.intensity_year);
    s.bind(i++, r.pue);
    s.bind(i++, r.co2_kg);
    s.bind(i++, r.report_json);
    s.bind(i++, std::string_view("jobcarbon " JOBCARBON_VERSION));
    s.bind(i++, r.cpus);
    if (r.work_count) {
      s.bind(i++, *r.work_count);
    } else {
      s.bind_null(i++);
    }
    s.bind(i++, r.work_unit);
    if (const int rc = s.step(); rc != SQLITE_DONE) return std::unexpected(db_.error(rc));
    if (sqlite3_changes(db_.get()) == 0) return false;  // the key exists: a retried write

    const std::int64_t row = sqlite3_last_insert_rowid(db_.get());
    for (const auto& [key, value] : r.tags) {
      insert_tag_.bind(1, row);
      insert_tag_.bind(2, key);
      insert_tag_.bind(3, value);
      const int rc = insert_tag_.step();
      insert_tag_.reset();
      if (rc != SQLITE_DONE) return std::unexpected(db_.error(rc));
    }
    // The running totals, in this transaction: a job is counted exactly when its row is written.
    // (After the tags: the upsert moves sqlite3_last_insert_rowid.)
    if (auto u = add_usage(db_, r); !u) return std::unexpected(u.error());
    if (auto f = finish_running(db_, r); !f) return std::unexpected(f.error());
    return true;
  }

  SqliteConnection db_;
  int version_;
  WalState wal_;
  SqliteStatement insert_job_;  // prepared on first append (listing needs neither)
  SqliteStatement insert_tag_;
};

}  // namespace

std::expected<std::unique_ptr<Store>, std::string> open_sqlite_store(
    const std::filesystem::path& path, OpenMode mode, const SqliteOptions& options) {
  const bool write = mode == OpenMode::kReadWrite;
  if (!write) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return std::unexpected(
          fmt::format("{}: no ledger there (nothing recorded yet?)", path.string()));
    }
  }
  // NOMUTEX: a Store is used by one thread at a time; SQLite's own locking between processes
  // is unaffected.
  int flags = SQLITE_OPEN_NOMUTEX |
              (write ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
  std::string uri;
  if (!write && needs_immutable_read(path)) {
    flags |= SQLITE_OPEN_URI;
    uri = immutable_uri(path);
  }
  auto db = SqliteConnection::open(path, flags, uri);
  if (!db) return std::unexpected(db.error());
  // SQLite falls back to read-only when the file is not writable for us; say so now rather than
  // at the end of the job.
  if (write && sqlite3_db_readonly(db->get(), "main") == 1) {
    return std::unexpected(fmt::format(
        "{}: the ledger is read-only for this user (uid {}); nothing was written. Record to "
        "another ledger with --ledger PATH, or ask its owner for write access",
        path.string(), ::getuid()));
  }
  sqlite3_busy_timeout(db->get(), static_cast<int>(options.busy_timeout.count()));
  // The fsyncs, not the SQL, are what a ledger write costs (~8 ms each on a VM disk), and
  // `jobcarbon run -- true` has 5 ms in all. So: synchronous=NORMAL, which in WAL mode syncs only
  // at checkpoints (a power cut may lose the last records written, never damage older ones), and
  // no checkpoint when a connection closes: most runs append to the WAL and sync nothing.
  // The Store keeps the WAL short instead (kCloseCheckpointFrames).
  sqlite3_db_config(db->get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  if (auto p = db->exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL"); !p) {
    return std::unexpected(p.error());
  }
  auto version = prepare_schema(*db, mode, options.busy_timeout);
  if (!version) return std::unexpected(version.error());
  return std::make_unique<SqliteStore>(std::move(*db), *version);
}

}  // namespace jobcarbon::ledger
