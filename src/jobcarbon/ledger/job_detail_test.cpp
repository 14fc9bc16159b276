// jobcarbon show: a job's records read back from a ledger, their totals as sums, and the text and
// JSON renderings.
#include <jobcarbon/ledger/job_detail.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/sqlite_store.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::ledger {
namespace {

using testing::at_s;
using testing::sample_record;

// Job "77" on two nodes (2026-01-02T03:04:05Z, 90 s, one GPU each) and an unrelated job "78".
std::vector<JobRecord> job_77_from_a_ledger(const std::filesystem::path& path) {
  auto store = open_sqlite_store(path, OpenMode::kReadWrite);
  EXPECT_TRUE(store);
  JobRecord a = sample_record("77", at_s(1'767'323'045));
  JobRecord b = a;
  b.node = "gpu-node-02";
  b.energy.gpu = Microjoules(4'000'000);
  b.energy_charged = b.energy.total();  // 6.3 J
  b.co2_kg = 0.25;
  b.report_json = "not json";
  for (const auto& r : {b, a, sample_record("78", at_s(1'767'323'045))}) {
    EXPECT_TRUE((*store)->append(r));
  }
  auto records = (*store)->job_records("77");
  EXPECT_TRUE(records) << records.error();
  return *records;
}

TEST(JobDetail, ReadsEveryRecordOfTheJobOrderedByNodeWithReports) {
  jobcarbon::testing::TempDir dir;
  const auto records = job_77_from_a_ledger(dir / "l.db");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].node, "gpu-node-01");
  EXPECT_EQ(records[1].node, "gpu-node-02");
  EXPECT_EQ(records[0].report_json, R"({"schema_version":1})");
  EXPECT_EQ(records[0].tags.at("project"), "resnet");
  auto store = open_sqlite_store(dir / "l.db", OpenMode::kReadOnly);
  auto none = (*store)->job_records("7");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST(JobDetail, TotalsAreSumsOfTheRecords) {
  jobcarbon::testing::TempDir dir;
  const auto records = job_77_from_a_ledger(dir / "l.db");
  const JobTotals t = job_totals(records);
  EXPECT_EQ(t.records, 2u);
  EXPECT_EQ(t.energy.gpu, Microjoules(5'000'000));
  EXPECT_EQ(t.energy.cpu, Microjoules(4'000'000));
  EXPECT_EQ(t.energy_charged, Microjoules(9'600'000));  // 3.3 J + 6.3 J
  EXPECT_EQ(t.machine_energy, Microjoules(10'000'000));
  EXPECT_EQ(t.unallocated_energy, Microjoules(3'400'000));
  EXPECT_DOUBLE_EQ(t.gpu_hours, 2 * 90.0 / 3600);
  EXPECT_DOUBLE_EQ(t.co2_kg, 3.3e6 / 3.6e12 * 0.441 * 1.2 + 0.25);
}

TEST(JobDetail, TextHasTheJobLineOneLinePerRecordAndTheTotal) {
  jobcarbon::testing::TempDir dir;
  const auto records = job_77_from_a_ledger(dir / "l.db");
  const std::string text = render_job_detail(records);
  EXPECT_TRUE(text.starts_with(
      "job 77 (cluster local, submitted 2026-01-02 03:04:00 UTC): user ada, account vision-lab, "
      "command /usr/bin/python3 train.py --epochs 10\n"
      "NODE               STEP  START (UTC)          END (UTC)            DURATION  GPU J  CPU J"))
      << text;
  EXPECT_NE(text.find("\ngpu-node-01        -     2026-01-02 03:04:05  2026-01-02 03:05:35     "
                      "1m30s  1.000  2.000   0.300   0.000      0.000      0.000  0.000001     "
                      "0.000001     0.000000  measured     1  NVIDIA H100 80GB HBM3   0.441  1.2  "
                      "0.000000\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nTOTAL (2 records)                                                     "
                      "       5.000  4.000   0.600   0.000      0.000      0.000  0.000003     "
                      "0.000003     0.000001                                                      "
                      "0.250000\n"),
            std::string::npos)
      << text;
  EXPECT_TRUE(text.ends_with("GPU-hours: 0.0500\n")) << text;
  EXPECT_EQ(render_job_detail({}), "");
}

TEST(JobDetail, JsonHoldsTheStoredReportsAndTotals) {
  jobcarbon::testing::TempDir dir;
  const auto records = job_77_from_a_ledger(dir / "l.db");
  const auto j = nlohmann::json::parse(render_job_detail_json(records));
  EXPECT_EQ(j["job_id"], "77");
  ASSERT_EQ(j["records"].size(), 2u);
  EXPECT_EQ(j["records"][0]["report"], nlohmann::json::parse(R"({"schema_version":1})"));
  EXPECT_EQ(j["records"][1]["report"], "not json");  // kept, as text
  EXPECT_EQ(j["totals"]["records"], 2);
  EXPECT_EQ(j["totals"]["energy_uj"], 9'600'000);
  EXPECT_EQ(j["totals"]["domains_uj"]["gpu"], 5'000'000);
  EXPECT_EQ(j["totals"]["unallocated_energy_uj"], 3'400'000);
}

}  // namespace
}  // namespace jobcarbon::ledger
