#include <jobcarbon/agent/spool.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/record_json.hpp>
#include <jobcarbon/ledger/sqlite_store.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/os/durable_file.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::agent {
namespace {

namespace fs = std::filesystem;
using jobcarbon::testing::TempDir;
using jobcarbon::testing::write_file;
using ledger::JobRecord;
using ledger::NodeIdle;
using ledger::OpenMode;
using ledger::Store;
using ledger::testing::at_s;

std::unique_ptr<Store> open_ledger(const fs::path& path, OpenMode mode = OpenMode::kReadWrite) {
  auto store = ledger::open_sqlite_store(path, mode);
  if (!store) ADD_FAILURE() << store.error();
  return store ? std::move(*store) : nullptr;
}

// Three jobs of one account, with distinct energies (µJ) that a double-count would show.
std::vector<JobRecord> three_jobs() {
  std::vector<JobRecord> jobs;
  for (int i = 0; i < 3; ++i) {
    JobRecord r =
        ledger::testing::sample_record(std::to_string(1000 + i), at_s(1'700'000'000 + i * 100));
    r.energy.gpu = Microjoules(1'000'001 * (i + 1));
    r.energy.cpu = Microjoules(7 + i);
    r.energy_charged = r.energy.total();
    jobs.push_back(r);
  }
  return jobs;
}

std::vector<JobRecord> listed(Store& store) {
  ledger::JobFilter filter;
  filter.with_report = true;
  auto jobs = store.list_jobs(filter);
  EXPECT_TRUE(jobs) << jobs.error();
  return jobs ? *jobs : std::vector<JobRecord>{};
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Spool, PutThenReplayWritesEveryRecordExactly) {
  TempDir dir;
  Spool spool(dir / "var" / "spool");  // created, with its missing parent, by the first put
  EXPECT_EQ(spool.size(), 0u);
  const auto jobs = three_jobs();
  for (const auto& r : jobs) ASSERT_TRUE(spool.put(r));
  EXPECT_EQ(spool.size(), 3u);
  EXPECT_EQ(mode_of(spool.dir()), 0700u);
  for (const auto& name : names_in(spool.dir())) EXPECT_EQ(mode_of(spool.dir() / name), 0600u);

  auto store = open_ledger(dir / "ledger.db");
  auto result = spool.replay(*store);
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(result->appended, 3);
  EXPECT_EQ(result->duplicates, 0);
  EXPECT_EQ(result->remaining, 0);
  EXPECT_EQ(result->last_error, "");
  EXPECT_TRUE(result->corrupt.empty());
  EXPECT_EQ(spool.size(), 0u);
  EXPECT_TRUE(names_in(spool.dir()).empty());

  // Newest first; every field as put, energies to the microjoule.
  const auto back = listed(*store);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0], jobs[2]);
  EXPECT_EQ(back[1], jobs[1]);
  EXPECT_EQ(back[2], jobs[0]);
  EXPECT_EQ(back[2].energy.gpu.value, 1'000'001);
  EXPECT_EQ(back[0].energy_charged.value, 3'000'003 + 9 + 300'000);  // gpu + cpu + dram
}

TEST(Spool, SameRecordTwiceIsOneFileAndReplayedAgainIsADuplicate) {
  TempDir dir;
  Spool spool(dir / "spool");
  const auto jobs = three_jobs();
  ASSERT_TRUE(spool.put(jobs[0]));
  ASSERT_TRUE(spool.put(jobs[0]));
  EXPECT_EQ(spool.size(), 1u);

  auto store = open_ledger(dir / "ledger.db");
  for (const auto& r : jobs) ASSERT_TRUE(spool.put(r));
  EXPECT_EQ(spool.size(), 3u);
  auto first = spool.replay(*store);
  ASSERT_TRUE(first) << first.error();
  EXPECT_EQ(first->appended, 3);

  // The agent crashed after the ledger took them but before the files were deleted: the same
  // records come back. They are no-ops in the ledger.
  for (const auto& r : jobs) ASSERT_TRUE(spool.put(r));
  auto second = spool.replay(*store);
  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(second->appended, 0);
  EXPECT_EQ(second->duplicates, 3);
  EXPECT_EQ(spool.size(), 0u);
  EXPECT_EQ(listed(*store).size(), 3u);
  auto usage = store->usage("vision-lab", "", 2023);
  ASSERT_TRUE(usage) << usage.error();
  EXPECT_EQ(usage->jobs, 3);
  // Counted once: DRAM 3 × 300'000 µJ of the sample, GPU (1 + 2 + 3) × 1'000'001, CPU 7 + 8 + 9.
  EXPECT_EQ(usage->energy.value, 3 * 300'000 + 6'000'006 + 24);
}

TEST(Spool, LedgerDownKeepsEveryRecordForTheNextReplay) {
  TempDir dir;
  open_ledger(dir / "ledger.db");  // create it, then open it read-only: every write fails
  auto down = open_ledger(dir / "ledger.db", OpenMode::kReadOnly);
  ASSERT_NE(down, nullptr);
  Spool spool(dir / "spool");
  const auto jobs = three_jobs();
  for (const auto& r : jobs) ASSERT_TRUE(spool.put(r));

  auto result = spool.replay(*down);
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(result->appended, 0);
  EXPECT_EQ(result->remaining, 3);
  EXPECT_NE(result->last_error, "");
  EXPECT_EQ(spool.size(), 3u);

  auto up = open_ledger(dir / "ledger.db");
  auto later = spool.replay(*up);
  ASSERT_TRUE(later) << later.error();
  EXPECT_EQ(later->appended, 3);
  EXPECT_EQ(later->remaining, 0);
  EXPECT_EQ(spool.size(), 0u);
  EXPECT_EQ(listed(*up).size(), 3u);
}

TEST(Spool, LedgerThatCannotBeOpenedIsAnErrorAndNothingIsLost) {
  TempDir dir;
  write_file(dir / "not-a-dir", "");
  // The agent cannot even open the ledger: it keeps spooling; nothing else to replay into.
  EXPECT_FALSE(ledger::open_sqlite_store(dir / "not-a-dir" / "ledger.db", OpenMode::kReadWrite));
  Spool spool(dir / "spool");
  for (const auto& r : three_jobs()) ASSERT_TRUE(spool.put(r));
  EXPECT_EQ(spool.size(), 3u);
}

// A ledger that goes down after taking `budget` records.
class FailingAfter : public Store {
 public:
  FailingAfter(Store& real, int budget) : real_(real), budget_(budget) {}
  std::expected<bool, std::string> append(const JobRecord& r) override {
    if (budget_-- <= 0) return std::unexpected("ledger: connection refused");
    return real_.append(r);
  }
  std::expected<bool, std::string> append_idle(const NodeIdle& idle) override {
    if (budget_-- <= 0) return std::unexpected("ledger: connection refused");
    return real_.append_idle(idle);
  }
  std::expected<bool, std::string> append_step(const JobRecord& step) override {
    if (budget_-- <= 0) return std::unexpected("ledger: connection refused");
    return real_.append_step(step);
  }
  std::expected<std::vector<JobRecord>, std::string> job_steps(const std::string& id) override {
    return real_.job_steps(id);
  }
  std::expected<std::vector<JobRecord>, std::string> list_jobs(
      const ledger::JobFilter& f) override {
    return real_.list_jobs(f);
  }
  std::expected<std::vector<JobRecord>, std::string> job_records(const std::string& id) override {
    return real_.job_records(id);
  }
  std::expected<std::vector<ledger::ReportRow>, std::string> report_rows(
      const ledger::ReportQuery& q) override {
    return real_.report_rows(q);
  }
  std::expected<void, std::string> set_budget(const ledger::BudgetRecord& b,
                                              const std::optional<std::string>& parent,
                                              const std::string& who) override {
    return real_.set_budget(b, parent, who);
  }
  std::expected<std::vector<ledger::BudgetRecord>, std::string> list_budgets(
      const std::optional<std::string>& account, std::optional<int> year) override {
    return real_.list_budgets(account, year);
  }
  std::expected<ledger::Usage, std::string> usage(const std::string& a, const std::string& u,
                                                  int year) override {
    return real_.usage(a, u, year);
  }
  std::expected<ledger::Usage, std::string> usage_between(const std::string& a,
                                                          const std::string& u,
                                                          ledger::Timestamp from,
                                                          ledger::Timestamp to) override {
    return real_.usage_between(a, u, from, to);
  }
  std::expected<std::vector<std::string>, std::string> account_chain(
      const std::string& a) override {
    return real_.account_chain(a);
  }
  std::expected<bool, std::string> update_running(const ledger::RunningRecord& r) override {
    return real_.update_running(r);
  }
  std::expected<std::vector<ledger::RunningRecord>, std::string> list_running(
      const ledger::JobFilter& f) override {
    return real_.list_running(f);
  }
  std::expected<ledger::Usage, std::string> running_usage(const std::string& a,
                                                          const std::string& u, int year) override {
    return real_.running_usage(a, u, year);
  }
  std::expected<ledger::TypicalPower, std::string> typical_power(const std::string& m) override {
    return real_.typical_power(m);
  }
  std::expected<policy::YearStart, std::string> budget_year_start() override {
    return real_.budget_year_start();
  }
  std::expected<void, std::string> set_budget_year_start(policy::YearStart from) override {
    return real_.set_budget_year_start(from);
  }
  int schema_version() const override { return real_.schema_version(); }
  std::string describe() const override { return real_.describe(); }

 private:
  Store& real_;
  int budget_;
};

TEST(Spool, ReplayStopsAtTheFirstLedgerErrorAndKeepsTheRest) {
  TempDir dir;
  auto store = open_ledger(dir / "ledger.db");
  Spool spool(dir / "spool");
  const auto jobs = three_jobs();
  for (const auto& r : jobs) ASSERT_TRUE(spool.put(r));

  FailingAfter flaky(*store, 1);
  auto result = spool.replay(flaky);
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(result->appended, 1);
  EXPECT_EQ(result->remaining, 2);
  EXPECT_EQ(result->last_error, "ledger: connection refused");
  EXPECT_EQ(spool.size(), 2u);
  EXPECT_EQ(listed(*store).size(), 1u);

  auto rest = spool.replay(*store);
  ASSERT_TRUE(rest) << rest.error();
  EXPECT_EQ(rest->appended, 2);
  EXPECT_EQ(rest->duplicates, 0);
  const auto back = listed(*store);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0], jobs[2]);
  EXPECT_EQ(back[1], jobs[1]);
  EXPECT_EQ(back[2], jobs[0]);
}

TEST(Spool, IdleIntervalsReplayOnce) {
  TempDir dir;
  auto store = open_ledger(dir / "ledger.db");
  Spool spool(dir / "spool");
  const NodeIdle idle{"hpc", "n1", at_s(1'700'000'000), at_s(1'700'000'060),
                      Microjoules(61'000'000'007)};
  ASSERT_TRUE(spool.put(idle));
  ASSERT_TRUE(spool.put(idle));
  ASSERT_TRUE(spool.put(three_jobs()[0]));
  EXPECT_EQ(spool.size(), 2u);

  auto result = spool.replay(*store);
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(result->appended, 2);
  // The ledger has it: the same interval again is a no-op there.
  auto again = store->append_idle(idle);
  ASSERT_TRUE(again) << again.error();
  EXPECT_FALSE(*again);

  ASSERT_TRUE(spool.put(idle));
  auto second = spool.replay(*store);
  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(second->duplicates, 1);
  EXPECT_EQ(second->appended, 0);
}

TEST(Spool, FileNamesAreAStableHashOfTheKey) {
  TempDir dir;
  Spool spool(dir / "spool");
  JobRecord r = ledger::testing::sample_record("123", at_s(0));
  r.cluster = "hpc";
  r.submit_time = at_s(1'700'000'000);
  r.step = "batch";
  r.node = "n1";
  ASSERT_TRUE(spool.put(r));
  const NodeIdle idle{"hpc", "n1", at_s(1'700'000'000), at_s(1'700'000'060), Microjoules(5)};
  ASSERT_TRUE(spool.put(idle));
  // FNV-1a 64 over (length, bytes) of each key field, computed independently: a change here
  // would make an upgraded agent keep two files for one record.
  EXPECT_EQ(names_in(spool.dir()),
            (std::vector<std::string>{"idle-3fa517be73d7bedc.json", "job-335881f76cc18acc.json"}));
  // Fields that are not part of the key do not change the name.
  r.energy.gpu = Microjoules(1);
  r.energy_charged = r.energy.total();
  ASSERT_TRUE(spool.put(r));
  EXPECT_EQ(spool.size(), 2u);
  auto text = os::read_small_file(spool.dir() / "job-335881f76cc18acc.json", 1 << 20);
  ASSERT_TRUE(text && text->has_value());
  const auto j = nlohmann::json::parse(**text);
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["kind"], "job");
  EXPECT_EQ(j["record"]["energy"]["gpu"], 1);  // the later put replaced the file
}

TEST(Spool, CorruptFilesAreMovedAsideAndDoNotBlockTheOthers) {
  TempDir dir;
  auto store = open_ledger(dir / "ledger.db");
  Spool spool(dir / "spool");
  const auto jobs = three_jobs();
  ASSERT_TRUE(spool.put(jobs[0]));
  // Damage of three kinds: not JSON, a field of the wrong sign, a record under another's name.
  write_file(spool.dir() / "job-0000000000000000.json", "{\"version\":1,\"kind\":\"jo");
  nlohmann::json negative = {{"version", 1}, {"kind", "job"}, {"record", ledger::to_json(jobs[1])}};
  negative["record"]["energy"]["gpu"] = -1;
  write_file(spool.dir() / "job-0000000000000001.json", negative.dump());
  nlohmann::json renamed = {{"version", 1}, {"kind", "job"}, {"record", ledger::to_json(jobs[2])}};
  write_file(spool.dir() / "job-0000000000000002.json", renamed.dump());
  // A write that crashed before its rename: not a record, left alone.
  write_file(spool.dir() / "job-0000000000000003.json.tmp", "half");
  EXPECT_EQ(spool.size(), 4u);

  auto result = spool.replay(*store);
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(result->appended, 1);
  EXPECT_EQ(result->remaining, 0);
  const fs::path s = spool.dir();
  const fs::path c = s / "corrupt";
  EXPECT_EQ(result->corrupt, (std::vector<std::string>{
                                 (s / "job-0000000000000000.json").string() + ": moved to " +
                                     (c / "job-0000000000000000.json").string() + ": not JSON",
                                 (s / "job-0000000000000001.json").string() + ": moved to " +
                                     (c / "job-0000000000000001.json").string() +
                                     ": record.energy.gpu: negative energy -1",
                                 (s / "job-0000000000000002.json").string() + ": moved to " +
                                     (c / "job-0000000000000002.json").string() +
                                     ": the record's key does not match the name",
                             }));
  EXPECT_EQ(mode_of(c), 0700u);
  EXPECT_EQ(ledger::testing::file_bytes(c / "job-0000000000000000.json"),
            "{\"version\":1,\"kind\":\"jo");  // kept as it was, for a person to look at
  EXPECT_EQ(names_in(s), (std::vector<std::string>{"corrupt", "job-0000000000000003.json.tmp"}));
  EXPECT_EQ(spool.size(), 0u);
  EXPECT_EQ(listed(*store).size(), 1u);

  // The same damage again does not replace what was moved aside before.
  write_file(s / "job-0000000000000000.json", "second");
  auto again = spool.replay(*store);
  ASSERT_TRUE(again) << again.error();
  ASSERT_EQ(again->corrupt.size(), 1u);
  EXPECT_EQ(ledger::testing::file_bytes(c / "job-0000000000000000.json.1"), "second");
  EXPECT_EQ(ledger::testing::file_bytes(c / "job-0000000000000000.json"),
            "{\"version\":1,\"kind\":\"jo");
}

TEST(Spool, RecordsTheLedgerWouldRefuseAreNotSpooled) {
  TempDir dir;
  Spool spool(dir / "spool");
  JobRecord r = three_jobs()[0];
  r.job_id = "";
  auto put = spool.put(r);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error(), "not spooled: job_id is empty");
  NodeIdle idle{"hpc", "n1", at_s(100), at_s(50), Microjoules(1)};
  auto put_idle = spool.put(idle);
  ASSERT_FALSE(put_idle);
  EXPECT_EQ(put_idle.error(), "not spooled: end is before start");
  EXPECT_EQ(spool.size(), 0u);
}

TEST(Spool, UnwritableSpoolIsAnErrorNamingThePath) {
  TempDir dir;
  write_file(dir / "file", "");
  Spool spool(dir / "file" / "spool");
  auto put = spool.put(three_jobs()[0]);
  ASSERT_FALSE(put);
  EXPECT_NE(put.error().find((dir / "file").string()), std::string::npos) << put.error();
  auto replay = spool.replay(*open_ledger(dir / "ledger.db"));
  ASSERT_FALSE(replay);  // listing fails: not a directory
  EXPECT_NE(replay.error().find((dir / "file" / "spool").string()), std::string::npos)
      << replay.error();
}

// A step of job 1000 (three_jobs()[0]) on its node.
JobRecord step_of_first_job(const std::string& step, std::int64_t gpu_uj) {
  JobRecord r = three_jobs()[0];
  r.step = step;
  r.energy.gpu = Microjoules(gpu_uj);
  r.energy.cpu = Microjoules(0);
  r.energy.dram = Microjoules(0);
  r.energy_charged = r.energy.total();
  r.exit_code = -1;
  return r;
}

TEST(Spool, StepsReplayIntoTheirOwnTableOnceAndNeverCount) {
  TempDir dir;
  auto store = open_ledger(dir / "ledger.db");
  Spool spool(dir / "spool");
  const JobRecord job = three_jobs()[0];
  const JobRecord batch = step_of_first_job("batch", 600'001);
  const JobRecord step0 = step_of_first_job("0", 400'000);
  ASSERT_TRUE(spool.put(job));
  ASSERT_TRUE(spool.put_step(batch));
  ASSERT_TRUE(spool.put_step(step0));
  ASSERT_TRUE(spool.put_step(step0));  // one file per key
  EXPECT_EQ(spool.size(), 3u);

  auto result = spool.replay(*store);
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(result->appended, 3);
  EXPECT_EQ(spool.size(), 0u);
  EXPECT_EQ(listed(*store), std::vector<JobRecord>{job});
  // Same start: ordered by step name.
  EXPECT_EQ(store->job_steps("1000").value(), (std::vector<JobRecord>{step0, batch}));
  const auto usage = store->usage("vision-lab", "", 2023);
  ASSERT_TRUE(usage) << usage.error();
  EXPECT_EQ(usage->energy, job.energy_charged);  // the steps' energy is not added
  EXPECT_EQ(usage->jobs, 1);

  // Put again after a crash: duplicates, nothing new in either table.
  ASSERT_TRUE(spool.put_step(batch));
  ASSERT_TRUE(spool.put(job));
  auto again = spool.replay(*store);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(again->duplicates, 2);
  EXPECT_EQ(again->appended, 0);
  EXPECT_EQ(store->job_steps("1000").value().size(), 2u);
  EXPECT_EQ(listed(*store).size(), 1u);
}

TEST(Spool, AStepsFileIsNamedByItsKeyAndKindAndNeverTakenForAJob) {
  TempDir dir;
  Spool spool(dir / "spool");
  JobRecord r = ledger::testing::sample_record("123", at_s(0));
  r.cluster = "hpc";
  r.submit_time = at_s(1'700'000'000);
  r.step = "batch";
  r.node = "n1";
  ASSERT_TRUE(spool.put(r));
  ASSERT_TRUE(spool.put_step(r));
  // The same key hash as the job's file (FileNamesAreAStableHashOfTheKey), another prefix.
  EXPECT_EQ(names_in(spool.dir()),
            (std::vector<std::string>{"job-335881f76cc18acc.json", "step-335881f76cc18acc.json"}));
  auto text = os::read_small_file(spool.dir() / "step-335881f76cc18acc.json", 1 << 20);
  ASSERT_TRUE(text && text->has_value());
  const auto j = nlohmann::json::parse(**text);
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["kind"], "step");
  EXPECT_EQ(ledger::job_record_from_json(j["record"]).value(), r);

  // A step's file that says it holds a job, and a job's file that holds a step record, are moved
  // aside: a step must never be appended as a job (it would be counted).
  write_file(
      spool.dir() / "step-0000000000000000.json",
      nlohmann::json{{"version", 1}, {"kind", "job"}, {"record", ledger::to_json(r)}}.dump());
  JobRecord as_job = r;
  as_job.step = "job";
  write_file(
      spool.dir() / "step-0000000000000001.json",
      nlohmann::json{{"version", 1}, {"kind", "step"}, {"record", ledger::to_json(as_job)}}.dump());
  auto store = open_ledger(dir / "ledger.db");
  auto result = spool.replay(*store);
  ASSERT_TRUE(result) << result.error();
  EXPECT_EQ(result->appended, 2);
  ASSERT_EQ(result->corrupt.size(), 2u);
  EXPECT_NE(result->corrupt[0].find(": kind: expected \"step\" (from the file name)"),
            std::string::npos)
      << result->corrupt[0];
  EXPECT_NE(result->corrupt[1].find(": record: step is 'job'"), std::string::npos)
      << result->corrupt[1];
  EXPECT_EQ(listed(*store).size(), 1u);
  EXPECT_EQ(store->job_steps("123").value().size(), 1u);
}

TEST(Spool, StepsTheLedgerWouldRefuseAreNotSpooled) {
  TempDir dir;
  Spool spool(dir / "spool");
  auto put = spool.put_step(step_of_first_job("job", 1));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error(), "not spooled: step is 'job': that is the job's own record, not a step");
  put = spool.put_step(step_of_first_job("", 1));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().rfind("not spooled: step is empty", 0), 0u) << put.error();
  EXPECT_EQ(spool.size(), 0u);
}

// Property: whatever the order of puts (records re-put with other figures, as an agent does when
// it crashes before forgetting what it spooled) and replays into a ledger that fails after a
// random number of writes, once drained the ledger holds each job, step and idle interval exactly
// once, in its own table, as it was in the spool when first taken; steps never reach the jobs
// table nor the usage totals.
TEST(Spool, AnyInterleavingOfPutsAndFailingReplaysWritesEachRecordOnceInItsTable) {
  std::mt19937_64 rng(20261127);
  const auto jobs = three_jobs();
  std::vector<JobRecord> steps;
  for (const auto& j : jobs) {
    for (const char* name : {"batch", "0"}) {
      JobRecord s = j;
      s.step = name;
      steps.push_back(s);
    }
  }
  const std::vector<NodeIdle> idles = {
      {"hpc", "n1", at_s(1'700'000'000), at_s(1'700'000'060), Microjoules(5)},
      {"hpc", "n2", at_s(1'700'000'000), at_s(1'700'000'060), Microjoules(6)}};
  const auto job_key = [](const JobRecord& r) {
    return fmt::format("{}|{}|{}|{}|{}", r.cluster, r.job_id, ledger::to_us(r.submit_time), r.step,
                       r.node);
  };
  const auto idle_key = [](const NodeIdle& i) {
    return fmt::format("{}|{}|{}", i.cluster, i.node, ledger::to_us(i.start));
  };
  for (int round = 0; round < 25; ++round) {
    TempDir dir;
    auto store = open_ledger(dir / "ledger.db");
    Spool spool(dir / "spool");
    // The model: what the spool holds (the last put per key) and what the ledger took (first).
    std::map<std::string, JobRecord> spooled_jobs, spooled_steps, taken_jobs, taken_steps;
    std::map<std::string, NodeIdle> spooled_idle, taken_idle;
    // What the spool still holds after a replay, read from its files.
    const auto still_spooled = [&] {
      std::set<std::string> keys;
      if (!fs::exists(spool.dir())) return keys;
      for (const auto& e : fs::directory_iterator(spool.dir())) {
        if (!e.is_regular_file()) continue;
        const auto j = nlohmann::json::parse(ledger::testing::file_bytes(e.path()));
        if (j["kind"] == "idle") {
          keys.insert("idle:" + idle_key(ledger::node_idle_from_json(j["record"]).value()));
        } else {
          keys.insert(j["kind"].get<std::string>() + ":" +
                      job_key(ledger::job_record_from_json(j["record"]).value()));
        }
      }
      return keys;
    };
    const auto settle = [&] {
      const auto left = still_spooled();
      const auto move_taken = [&](auto& from, auto& to, const std::string& kind) {
        for (auto it = from.begin(); it != from.end();) {
          if (left.count(kind + ":" + it->first)) {
            ++it;
            continue;
          }
          to.emplace(it->first, it->second);  // the first write wins
          it = from.erase(it);
        }
      };
      move_taken(spooled_jobs, taken_jobs, "job");
      move_taken(spooled_steps, taken_steps, "step");
      move_taken(spooled_idle, taken_idle, "idle");
    };
    for (int op = 0; op < 40; ++op) {
      const auto what = rng() % 8;
      if (what < 2) {
        JobRecord r = jobs[rng() % jobs.size()];
        r.energy.gpu = Microjoules(static_cast<std::int64_t>(rng() % 1'000'000'007));
        r.energy_charged = r.energy.total();
        ASSERT_TRUE(spool.put(r));
        spooled_jobs[job_key(r)] = r;
      } else if (what < 5) {
        JobRecord r = steps[rng() % steps.size()];
        r.energy.gpu = Microjoules(static_cast<std::int64_t>(rng() % 1'000'000'007));
        r.energy_charged = r.energy.total();
        ASSERT_TRUE(spool.put_step(r));
        spooled_steps[job_key(r)] = r;
      } else if (what < 6) {
        NodeIdle i = idles[rng() % idles.size()];
        i.energy = Microjoules(static_cast<std::int64_t>(rng() % 1000));
        ASSERT_TRUE(spool.put(i));
        spooled_idle[idle_key(i)] = i;
      } else {
        FailingAfter flaky(*store, static_cast<int>(rng() % 4));
        auto r = spool.replay(flaky);
        ASSERT_TRUE(r) << r.error();
        ASSERT_TRUE(r->corrupt.empty());
        settle();
      }
    }
    auto drained = spool.replay(*store);
    ASSERT_TRUE(drained) << drained.error();
    EXPECT_EQ(drained->remaining, 0);
    EXPECT_EQ(spool.size(), 0u);
    settle();
    ASSERT_TRUE(spooled_jobs.empty() && spooled_steps.empty() && spooled_idle.empty());

    std::map<std::string, JobRecord> ledger_jobs, ledger_steps;
    Microjoules job_energy;
    for (const auto& r : listed(*store)) {
      EXPECT_TRUE(ledger_jobs.emplace(job_key(r), r).second) << "twice: " << job_key(r);
      job_energy += r.energy_charged;
    }
    for (const auto& j : jobs) {
      const auto of_job = store->job_steps(j.job_id).value();
      for (const auto& r : of_job) {
        EXPECT_TRUE(ledger_steps.emplace(job_key(r), r).second) << "twice: " << job_key(r);
      }
    }
    EXPECT_EQ(ledger_jobs, taken_jobs) << "round " << round;
    EXPECT_EQ(ledger_steps, taken_steps) << "round " << round;
    const auto usage = store->usage("vision-lab", "", 2023).value();
    EXPECT_EQ(usage.energy, job_energy);  // steps never count
    EXPECT_EQ(usage.jobs, static_cast<std::int64_t>(taken_jobs.size()));
    std::int64_t idle_uj = 0;
    for (const auto& [k, i] : taken_idle) idle_uj += i.energy.value;
    EXPECT_EQ(ledger::testing::raw_int(dir / "ledger.db", "SELECT count(*) FROM node_idle"),
              static_cast<std::int64_t>(taken_idle.size()));
    EXPECT_EQ(ledger::testing::raw_int(dir / "ledger.db",
                                       "SELECT coalesce(sum(idle_uj), 0) FROM node_idle"),
              idle_uj);
  }
}

}  // namespace
}  // namespace jobcarbon::agent
