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

// Job 77's steps as the agent writes them: "batch" and "0" under gpu-node-01's record, and "0" on
// a node whose job record is not written yet (the job still runs there).
std::vector<JobRecord> steps_of_77(const std::filesystem::path& path) {
  auto store = open_sqlite_store(path, OpenMode::kReadWrite);
  EXPECT_TRUE(store);
  JobRecord batch = sample_record("77", at_s(1'767'323'045));
  batch.step = "batch";
  batch.start += std::chrono::seconds(1);
  batch.end = batch.start + std::chrono::seconds(60);
  batch.energy = DomainEnergy{Microjoules(600'000), Microjoules(1'200'000), {}, {}, {}, {}};
  batch.energy_charged = batch.energy.total();  // 1.8 J of the node's 3.3 J
  batch.co2_kg = 0.125;
  batch.exit_code = 0;
  JobRecord zero = batch;
  zero.step = "0";
  zero.start += std::chrono::seconds(10);
  zero.end = zero.start + std::chrono::seconds(30);
  zero.energy = DomainEnergy{Microjoules(300'000), {}, {}, {}, {}, {}};
  zero.energy_charged = zero.energy.total();
  zero.co2_kg = 0.0625;
  zero.exit_code = 2;
  zero.report_json = "not json";
  JobRecord elsewhere = zero;
  elsewhere.node = "gpu-node-03";
  for (const auto& s : {elsewhere, zero, batch}) EXPECT_EQ((*store)->append_step(s), true);
  auto steps = (*store)->job_steps("77");
  EXPECT_TRUE(steps) << steps.error();
  return *steps;
}

TEST(JobDetail, StepsAreListedUnderTheirNodesRecordAndNotAddedToTheTotal) {
  jobcarbon::testing::TempDir dir;
  const auto records = job_77_from_a_ledger(dir / "l.db");
  const auto steps = steps_of_77(dir / "l.db");
  ASSERT_EQ(steps.size(), 3u);
  const std::string text = render_job_detail(records, steps);
  const std::string without = render_job_detail(records);
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < text.size();) {
    const auto nl = text.find('\n', at);
    lines.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  ASSERT_EQ(lines.size(), 10u) << text;
  EXPECT_TRUE(lines[2].starts_with("gpu-node-01  ")) << text;
  EXPECT_EQ(
      lines[3],
      "  step                 batch  2026-01-02 03:04:06  2026-01-02 03:05:06     1m00s"
      "  0.600  1.200   0.000   0.000      0.000      0.000  0.000000                          "
      "  measured     1  NVIDIA H100 80GB HBM3   0.441  1.2  0.125000")
      << text;
  EXPECT_EQ(
      lines[4],
      "  step                 0      2026-01-02 03:04:16  2026-01-02 03:04:46     30.0s"
      "  0.300  0.000   0.000   0.000      0.000      0.000  0.000000                          "
      "  measured     1  NVIDIA H100 80GB HBM3   0.441  1.2  0.062500")
      << text;
  EXPECT_TRUE(lines[5].starts_with("gpu-node-02  ")) << text;
  EXPECT_EQ(
      lines[6],
      "  step on gpu-node-03  0      2026-01-02 03:04:16  2026-01-02 03:04:46     30.0s"
      "  0.300  0.000   0.000   0.000      0.000      0.000  0.000000                          "
      "  measured     1  NVIDIA H100 80GB HBM3   0.441  1.2  0.062500")
      << text;
  EXPECT_EQ(lines[9],
            "Steps are shares of their job's record on the node (by CPU time): part of its "
            "figures, not added to the total.");
  // The totals are the records' alone, as without the steps.
  const auto total_of = [](const std::string& t) {
    const auto at = t.find("\nTOTAL");
    return t.substr(at + 1, t.find('\n', at + 1) - at - 1);
  };
  EXPECT_NE(total_of(text).find("5.000  4.000   0.600"), std::string::npos) << text;
  EXPECT_NE(total_of(text).find("0.250000"), std::string::npos) << text;
  EXPECT_NE(without.find("GPU-hours: 0.0500\n"), std::string::npos);
  EXPECT_NE(text.find("GPU-hours: 0.0500\n"), std::string::npos);
  EXPECT_EQ(without.find("Steps are shares"), std::string::npos);
  // Steps alone (the job's records not written yet): the job line comes from them.
  const std::string only = render_job_detail({}, steps);
  EXPECT_TRUE(
      only.starts_with("job 77 (cluster local, submitted 2026-01-02 03:04:00 UTC): user "
                       "ada, account vision-lab, command /usr/bin/python3 train.py "
                       "--epochs 10\n"))
      << only;
  EXPECT_NE(only.find("\nTOTAL (0 records)"), std::string::npos) << only;
}

TEST(JobDetail, JsonListsTheStepsApartFromTheTotals) {
  jobcarbon::testing::TempDir dir;
  const auto records = job_77_from_a_ledger(dir / "l.db");
  const auto steps = steps_of_77(dir / "l.db");
  const auto j = nlohmann::json::parse(render_job_detail_json(records, steps));
  EXPECT_EQ(j["totals"]["energy_uj"], 9'600'000);  // the records' sum, steps left out
  ASSERT_EQ(j["steps"].size(), 3u);
  const auto& batch = j["steps"][0];
  EXPECT_EQ(batch["node"], "gpu-node-01");
  EXPECT_EQ(batch["step"], "batch");
  EXPECT_EQ(batch["start"], "2026-01-02T03:04:06.000000Z");
  EXPECT_EQ(batch["end"], "2026-01-02T03:05:06.000000Z");
  EXPECT_EQ(batch["exit_code"], 0);
  EXPECT_EQ(batch["energy_uj"], 1'800'000);
  EXPECT_EQ(batch["domains_uj"]["gpu"], 600'000);
  EXPECT_EQ(batch["domains_uj"]["cpu"], 1'200'000);
  EXPECT_DOUBLE_EQ(batch["co2_kg"].get<double>(), 0.125);
  EXPECT_EQ(batch["report"], nlohmann::json::parse(R"({"schema_version":1})"));
  EXPECT_EQ(j["steps"][1]["step"], "0");
  EXPECT_EQ(j["steps"][1]["exit_code"], 2);
  EXPECT_EQ(j["steps"][1]["report"], "not json");
  EXPECT_EQ(j["steps"][2]["node"], "gpu-node-03");
  // Without steps the list is empty, never missing.
  const auto plain = nlohmann::json::parse(render_job_detail_json(records));
  EXPECT_TRUE(plain["steps"].is_array());
  EXPECT_TRUE(plain["steps"].empty());
}

}  // namespace
}  // namespace jobcarbon::ledger
