#include <jobcarbon/agent/spool.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/os/durable_file.hpp>
#include <jobcarbon/ledger/record_json.hpp>
#include <jobcarbon/ledger/sqlite_store.hpp>
#include <jobcarbon/ledger/test_support.hpp>
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

}  // namespace
}  // namespace jobcarbon::agent
