// Running jobs' provisional usage and learned power per device in the SQLite ledger (migration
// 0003): upserts that never move back, the final record replacing the provisional one, budgets
// counting running jobs, the New Year split, and typical power learned from finished jobs.
#include <jobcarbon/ledger/sqlite_running.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <jobcarbon/ledger/budget_check.hpp>
#include <jobcarbon/ledger/sqlite_store.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::ledger {
namespace {

using std::chrono::seconds;
using testing::at_s;
using testing::raw_exec;
using testing::raw_int;
using testing::sample_record;
using testing::sample_running;

constexpr std::int64_t kNewYear2026 = 1'767'225'600;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kMay2026 = 1'777'593'600;      // 2026-05-01T00:00:00Z

class RunningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = open_sqlite_store(path_, OpenMode::kReadWrite);
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(*s);
  }
  jobcarbon::testing::TempDir dir_;
  std::filesystem::path path_ = dir_.path() / "ledger.db";
  std::unique_ptr<Store> store_;
};

TEST_F(RunningTest, ProvisionalUsageIsListedAndCountsForTheAccount) {
  const auto r = sample_running("4242", at_s(kMay2026), seconds(3600));
  ASSERT_EQ(store_->update_running(r), true);
  auto listed = store_->list_running({});
  ASSERT_TRUE(listed) << listed.error();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front(), r);

  auto used = store_->running_usage("vision-lab", "", 2026);
  ASSERT_TRUE(used) << used.error();
  EXPECT_EQ(used->energy, Microjoules(3600LL * 400'000'000));  // 1.44 MJ = 0.4 kWh
  EXPECT_NEAR(used->co2.value, 0.16, 1e-12);
  EXPECT_EQ(used->jobs, 1);
  // Finished usage is untouched: the running share is reported apart.
  EXPECT_EQ(store_->usage("vision-lab", "", 2026)->jobs, 0);
  // Another user's share is 0; the user's own is the same.
  EXPECT_EQ(store_->running_usage("vision-lab", "bob", 2026)->jobs, 0);
  EXPECT_EQ(store_->running_usage("vision-lab", "ada", 2026)->energy, used->energy);
  EXPECT_EQ(store_->running_usage("vision-lab", "", 2025)->jobs, 0);
}

TEST_F(RunningTest, LaterReportsReplaceEarlierOnesAndLateRetriesAreIgnored) {
  auto r = sample_running("7", at_s(kMay2026), seconds(60));
  ASSERT_EQ(store_->update_running(r), true);
  auto newer = sample_running("7", at_s(kMay2026), seconds(120));
  ASSERT_EQ(store_->update_running(newer), true);
  ASSERT_EQ(store_->update_running(r), true);  // stored nothing: older than what is there
  auto listed = store_->list_running({});
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().energy_charged, newer.energy_charged);
  EXPECT_EQ(listed->front().updated, newer.updated);
}

TEST_F(RunningTest, TheFinalRecordReplacesProvisionalUsage) {
  const auto r = sample_running("99", at_s(kMay2026), seconds(600));
  ASSERT_EQ(store_->update_running(r), true);
  auto final_record = sample_record("99", r.start);
  final_record.cluster = r.cluster;
  final_record.submit_time = r.submit_time;
  final_record.step = r.step;
  final_record.node = r.node;
  ASSERT_EQ(store_->append(final_record), true);

  EXPECT_TRUE(store_->list_running({})->empty());
  EXPECT_EQ(raw_int(path_, "SELECT count(*) FROM running_jobs"), 0);
  EXPECT_EQ(store_->running_usage("vision-lab", "", 2026)->jobs, 0);
  EXPECT_EQ(store_->usage("vision-lab", "", 2026)->energy, final_record.energy_charged);
  // An agent's report that arrives after the final record is refused: it would count twice.
  EXPECT_EQ(store_->update_running(r), false);
  EXPECT_EQ(raw_int(path_, "SELECT count(*) FROM running_jobs"), 0);
}

TEST_F(RunningTest, AProvisionalRowLeftBesideItsFinalRecordIsNotListed) {
  // Written by hand (no jobcarbon writes a final record without deleting the provisional row).
  const auto r = sample_running("5", at_s(kMay2026), seconds(600));
  ASSERT_EQ(store_->update_running(r), true);
  raw_exec(path_,
           fmt::format("INSERT INTO jobs (cluster, job_id, submit_us, step, node, user_name, "
                       "account, start_us, end_us, exit_code, charged_uj, method, "
                       "intensity_kg_per_kwh, co2_kg) VALUES ('hpc', '5', {}, 'batch', "
                       "'gpu-node-02', 'ada', 'vision-lab', {}, {}, 0, 1000, 'measured', 0.4, 1)",
                       r.submit_time.time_since_epoch().count(), r.start.time_since_epoch().count(),
                       r.updated.time_since_epoch().count()));
  EXPECT_EQ(raw_int(path_, "SELECT count(*) FROM running_jobs"), 1);
  EXPECT_TRUE(store_->list_running({})->empty());
}

TEST_F(RunningTest, AJobRunningAcrossNewYearIsSplitByTime) {
  // 12 h in 2025, 36 h in 2026 so far.
  const auto r = sample_running("ny", at_s(kNewYear2026 - 12 * 3600), seconds(48 * 3600));
  ASSERT_EQ(store_->update_running(r), true);
  auto y2025 = store_->running_usage("vision-lab", "", 2025);
  auto y2026 = store_->running_usage("vision-lab", "", 2026);
  ASSERT_TRUE(y2025 && y2026);
  EXPECT_EQ(y2025->energy.value, r.energy_charged.value / 4);
  EXPECT_EQ(y2026->energy.value, r.energy_charged.value * 3 / 4);
  EXPECT_NEAR(y2025->co2.value + y2026->co2.value, r.co2_kg, 1e-12);
  EXPECT_EQ(y2025->jobs, 1);  // counted as a job where it started
  EXPECT_EQ(y2026->jobs, 0);
}

TEST_F(RunningTest, ParentsSeeTheirChildrensRunningJobs) {
  BudgetRecord b;
  b.account = "vision-lab";
  b.year = 2026;
  b.limit_kg = KgCo2{1.0};
  ASSERT_TRUE(store_->set_budget(b, std::string("ai-institute"), "admin"));
  ASSERT_EQ(store_->update_running(sample_running("1", at_s(kMay2026), seconds(3600))), true);
  EXPECT_EQ(store_->running_usage("ai-institute", "", 2026)->jobs, 1);
  EXPECT_EQ(store_->running_usage("other", "", 2026)->jobs, 0);
  JobFilter other;
  other.account = "other";
  auto filtered = store_->list_running(other);
  EXPECT_TRUE(filtered->empty());
}

TEST_F(RunningTest, BudgetDecisionsCountRunningJobs) {
  BudgetRecord b;
  b.account = "vision-lab";
  b.year = 2026;
  b.limit_kg = KgCo2{0.5};
  b.policy = policy::Policy::kDeny;
  ASSERT_TRUE(store_->set_budget(b, std::nullopt, "admin"));
  auto before = check_budget(*store_, "vision-lab", "ada", KgCo2{0.2}, 2026);
  ASSERT_TRUE(before) << before.error();
  EXPECT_EQ(before->decision, policy::Decision::kAllow);
  // 0.16 kg x 2 running jobs + 0.2 kg estimate = 0.52 kg > 0.5 kg.
  ASSERT_EQ(store_->update_running(sample_running("a", at_s(kMay2026), seconds(3600))), true);
  ASSERT_EQ(store_->update_running(sample_running("b", at_s(kMay2026), seconds(3600))), true);
  auto after = check_budget(*store_, "vision-lab", "ada", KgCo2{0.2}, 2026);
  ASSERT_TRUE(after) << after.error();
  EXPECT_EQ(after->decision, policy::Decision::kDeny);
  auto status = budget_status(*store_, "vision-lab", 2026, policy::WallTime(seconds(kMay2026)));
  ASSERT_TRUE(status) << status.error();
  ASSERT_EQ(status->size(), 1u);
  EXPECT_NEAR(status->front().running.co2.value, 0.32, 1e-12);
  EXPECT_NEAR(status->front().remaining, 0.5 - 0.32, 1e-12);
}

TEST_F(RunningTest, InvalidProvisionalUsageIsRefusedWithNothingWritten) {
  auto r = sample_running("x", at_s(kMay2026), seconds(60));
  r.updated = r.start - seconds(1);
  auto bad = store_->update_running(r);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("updated is before start"), std::string::npos) << bad.error();
  r = sample_running("", at_s(kMay2026), seconds(60));
  EXPECT_FALSE(store_->update_running(r));
  EXPECT_EQ(raw_int(path_, "SELECT count(*) FROM running_jobs"), 0);
}

TEST_F(RunningTest, TypicalPowerIsLearnedFromFinishedJobs) {
  auto none = store_->typical_power("");
  ASSERT_TRUE(none) << none.error();
  EXPECT_FALSE(none->gpu_watts);
  EXPECT_FALSE(none->cpu_watts);

  // 2 GPUs for 100 s using 60 kJ: 300 W per GPU; 4 CPUs with 4 kJ of CPU and DRAM: 10 W each.
  auto a = sample_record("a", at_s(kMay2026));
  a.end = a.start + seconds(100);
  a.gpu_count = 2;
  a.cpus = 4;
  a.energy = {Microjoules(60'000'000'000),
              Microjoules(3'000'000'000),
              Microjoules(1'000'000'000),
              Microjoules(0),
              Microjoules(0),
              Microjoules(0)};
  a.energy_charged = a.energy.total();
  ASSERT_EQ(store_->append(a), true);
  auto one = store_->typical_power("");
  EXPECT_NEAR(*one->gpu_watts, 300.0, 1e-9);
  EXPECT_NEAR(*one->cpu_watts, 10.0, 1e-9);
  EXPECT_EQ(one->gpu_jobs, 1);

  // Another model: 1 GPU, 100 s, 20 kJ (200 W). Together: 80 kJ over 300 GPU-seconds.
  auto b = sample_record("b", at_s(kMay2026));
  b.end = b.start + seconds(100);
  b.gpu_model = "NVIDIA A100-SXM4-40GB";
  b.cpus = 0;  // unknown: teaches nothing about CPUs
  b.energy = {Microjoules(20'000'000'000),
              Microjoules(0),
              Microjoules(0),
              Microjoules(0),
              Microjoules(0),
              Microjoules(0)};
  b.energy_charged = b.energy.total();
  ASSERT_EQ(store_->append(b), true);
  EXPECT_NEAR(*store_->typical_power("")->gpu_watts, 80000.0 / 300.0, 1e-9);
  EXPECT_NEAR(*store_->typical_power("NVIDIA A100-SXM4-40GB")->gpu_watts, 200.0, 1e-9);
  EXPECT_NEAR(*store_->typical_power("NVIDIA H100 80GB HBM3")->gpu_watts, 300.0, 1e-9);
  EXPECT_FALSE(store_->typical_power("Tesla V100")->gpu_watts);
  EXPECT_EQ(store_->typical_power("")->cpu_jobs, 1);

  // A 5 s job is start-up, not power: ignored. A retried append is not learned twice.
  auto c = sample_record("c", at_s(kMay2026));
  c.end = c.start + seconds(5);
  ASSERT_EQ(store_->append(c), true);
  ASSERT_EQ(store_->append(a), false);
  EXPECT_EQ(store_->typical_power("")->gpu_jobs, 2);
  EXPECT_NEAR(*store_->typical_power("")->gpu_watts, 80000.0 / 300.0, 1e-9);
}

TEST_F(RunningTest, WorkDoneAndCpusRoundTrip) {
  auto r = sample_record("w", at_s(kMay2026));
  ASSERT_EQ(store_->append(r), true);
  auto back = store_->job_records("w");
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ(back->front().cpus, 3.5);
  EXPECT_EQ(back->front().work_count, 1'281'167.0 * 90);
  EXPECT_EQ(back->front().work_unit, "images");
  r = sample_record("w2", at_s(kMay2026));
  r.work_unit = "";
  auto bad = store_->append(r);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("work_count has no unit"), std::string::npos);
}

}  // namespace
}  // namespace jobcarbon::ledger
