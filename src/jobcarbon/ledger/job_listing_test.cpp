// The `jobcarbon jobs` listing, rendered from records read back from a small ledger, checked
// against hand-written text. Times are shown in UTC here (an injected local-time function).
#include <jobcarbon/ledger/job_listing.hpp>

#include <algorithm>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/sqlite_store.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::ledger {
namespace {

using testing::at_s;
using testing::sample_record;

std::tm utc(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

// Two runs, written to a ledger and read back newest first.
std::vector<JobRecord> two_jobs_from_a_ledger() {
  // 2026-01-02T03:04:05.5Z, 90 s, 0.01 kWh (36 kJ).
  JobRecord a = sample_record("local-2", at_s(1'767'323'045) + std::chrono::milliseconds(500));
  a.energy_charged = Microjoules(36'000'000'000);
  a.co2_kg = 0.005292;
  // 2026-01-01T22:00:00Z, 3 h 4 min 30 s, 1.5 kWh (5.4 MJ), killed (137), no GPU counter.
  JobRecord b = sample_record("local-1", at_s(1'767'304'800));
  b.end = b.start + std::chrono::seconds(3 * 3600 + 4 * 60 + 30);
  b.user = "bob";
  b.account = "ml, \"core\"";
  b.exit_code = 137;
  b.method = "estimated";
  b.energy_charged = Microjoules(5'400'000'000'000);
  b.co2_kg = 0.6615;
  b.command = {"/opt/conda/bin/python", "x y.py", "--lr=1e-3,2e-3", "it's"};

  jobcarbon::testing::TempDir dir;
  auto store = open_sqlite_store(dir / "ledger.db", OpenMode::kReadWrite);
  EXPECT_TRUE(store.has_value()) << store.error();
  EXPECT_EQ((*store)->append(b), true);
  EXPECT_EQ((*store)->append(a), true);
  auto jobs = (*store)->list_jobs({});
  EXPECT_TRUE(jobs.has_value()) << jobs.error();
  return *jobs;
}

TEST(JobListing, Table) {
  const auto jobs = two_jobs_from_a_ledger();
  EXPECT_EQ(render_jobs(jobs, ListingFormat::kTable, utc),
            "JOB ID   START             DURATION  USER  ACCOUNT     EXIT     kWh  kg CO2  "
            "METHOD     COMMAND\n"
            "local-2  2026-01-02 03:04     1m30s  ada   vision-lab     0  0.0100  0.0053  "
            "measured   python3\n"
            "local-1  2026-01-01 22:00     3h04m  bob   ml, \"core\"   137  1.5000  0.6615  "
            "estimated  python\n");
}

TEST(JobListing, TableAlignsUtf8NamesByCharacter) {
  JobRecord r = sample_record("1", at_s(1'767'323'045));
  r.user = "josé";
  r.account = "équipe";
  JobRecord s = sample_record("2", at_s(1'767'323'045));
  s.user = "li";
  s.account = "ml";
  const std::vector<JobRecord> jobs = {r, s};
  const std::string table = render_jobs(jobs, ListingFormat::kTable, utc);
  EXPECT_NE(table.find("josé  équipe  "), std::string::npos) << table;
  EXPECT_NE(table.find("li    ml      "), std::string::npos) << table;
}

TEST(JobListing, TableShowsControlCharactersAsQuestionMarks) {
  JobRecord r = sample_record("1", at_s(1'767'323'045));
  r.account = "a\nb\x1b[31m";
  r.command = {"/bin/evil\rname"};
  const std::vector<JobRecord> jobs = {r};
  const std::string table = render_jobs(jobs, ListingFormat::kTable, utc);
  EXPECT_NE(table.find(" a?b?[31m "), std::string::npos) << table;
  EXPECT_NE(table.find(" evil?name\n"), std::string::npos) << table;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 2);
}

TEST(JobListing, Csv) {
  const auto jobs = two_jobs_from_a_ledger();
  EXPECT_EQ(render_jobs(jobs, ListingFormat::kCsv, utc),
            "job_id,start,duration_s,user,account,exit_code,kwh,kg_co2,method,command\n"
            "local-2,2026-01-02 03:04:05,90,ada,vision-lab,0,0.01,0.005292,measured,"
            "/usr/bin/python3 train.py --epochs 10\n"
            "local-1,2026-01-01 22:00:00,11070,bob,\"ml, \"\"core\"\"\",137,1.5,0.6615,estimated,"
            "\"/opt/conda/bin/python 'x y.py' --lr=1e-3,2e-3 'it'\\''s'\"\n");
}

TEST(JobListing, Json) {
  const auto jobs = two_jobs_from_a_ledger();
  const auto j = nlohmann::json::parse(render_jobs(jobs, ListingFormat::kJson));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  const auto& a = j[0];
  EXPECT_EQ(a["job_id"], "local-2");
  EXPECT_EQ(a["cluster"], "local");
  EXPECT_EQ(a["node"], "gpu-node-01");
  EXPECT_EQ(a["step"], "");
  EXPECT_EQ(a["submit_time"], "2026-01-02T03:04:00.500000Z");
  EXPECT_EQ(a["start"], "2026-01-02T03:04:05.500000Z");
  EXPECT_EQ(a["end"], "2026-01-02T03:05:35.500000Z");
  EXPECT_EQ(a["duration_s"], 90.0);
  EXPECT_EQ(a["energy_uj"], 36'000'000'000);
  EXPECT_EQ(a["energy_kwh"], 0.01);
  EXPECT_EQ(a["domains_uj"]["gpu"], 1'000'000);
  EXPECT_EQ(a["domains_uj"]["dram"], 300'000);
  EXPECT_EQ(a["domains_uj"]["estimated_memory"], 0);
  EXPECT_EQ(a["machine_energy_uj"], 5'000'000);
  EXPECT_EQ(a["unallocated_energy_uj"], 1'700'000);
  EXPECT_EQ(a["tags"]["project"], "resnet");
  EXPECT_EQ(a["command"], nlohmann::json({"/usr/bin/python3", "train.py", "--epochs", "10"}));
  EXPECT_EQ(a["intensity"]["kg_per_kwh"], 0.441);
  EXPECT_EQ(a["intensity"]["dataset"], "eea-2016");
  EXPECT_EQ(a["intensity"]["year"], 2016);
  EXPECT_EQ(a["pue"], 1.2);
  EXPECT_EQ(a["co2_kg"], 0.005292);
  EXPECT_EQ(a["gpu_model"], "NVIDIA H100 80GB HBM3");
  EXPECT_FALSE(a.contains("report_json"));
  EXPECT_EQ(j[1]["exit_code"], 137);
  EXPECT_EQ(j[1]["account"], "ml, \"core\"");
  EXPECT_EQ(j[1]["method"], "estimated");
}

TEST(JobListing, Empty) {
  EXPECT_EQ(render_jobs({}, ListingFormat::kTable, utc), "");
  EXPECT_EQ(render_jobs({}, ListingFormat::kCsv, utc),
            "job_id,start,duration_s,user,account,exit_code,kwh,kg_co2,method,command\n");
  EXPECT_EQ(render_jobs({}, ListingFormat::kJson, utc), "[]\n");
}

TEST(JobListing, FormatNames) {
  EXPECT_EQ(parse_listing_format("table"), ListingFormat::kTable);
  EXPECT_EQ(parse_listing_format("csv"), ListingFormat::kCsv);
  EXPECT_EQ(parse_listing_format("json"), ListingFormat::kJson);
  EXPECT_EQ(parse_listing_format("xml"), std::nullopt);
}

TEST(FormatDuration, PicksTwoUnits) {
  using std::chrono::microseconds;
  using std::chrono::seconds;
  EXPECT_EQ(format_duration(microseconds(0)), "0.0s");
  EXPECT_EQ(format_duration(microseconds(449'999)), "0.4s");
  EXPECT_EQ(format_duration(seconds(42)), "42.0s");
  EXPECT_EQ(format_duration(microseconds(59'999'999)), "59.9s");
  EXPECT_EQ(format_duration(seconds(60)), "1m00s");
  EXPECT_EQ(format_duration(seconds(725)), "12m05s");
  EXPECT_EQ(format_duration(seconds(3 * 3600 + 4 * 60 + 59)), "3h04m");
  EXPECT_EQ(format_duration(seconds(2 * 86400 + 3 * 3600)), "2d03h");
  EXPECT_EQ(format_duration(microseconds(-5)), "0.0s");
}

TEST(ShellJoin, QuotesOnlyWhatNeedsIt) {
  const std::vector<std::string> argv = {"python3", "a b", "it's", "", "--x=1,2", "$HOME"};
  EXPECT_EQ(shell_join(argv), "python3 'a b' 'it'\\''s' '' --x=1,2 '$HOME'");
}

TEST(RenderRunning, TableCsvAndJson) {
  // Started 2026-05-01T00:00:00Z, last report 1 h later, listed 1 h 0 min 30 s after the start.
  const auto r = testing::sample_running("4242", at_s(1'777'593'600), std::chrono::seconds(3600));
  const std::vector<RunningRecord> jobs{r};
  const auto now = r.updated + std::chrono::seconds(30);
  EXPECT_EQ(render_running(jobs, ListingFormat::kTable, now, utc),
            "JOB ID  STEP   NODE         START             RUNNING  USER  ACCOUNT     GPUS  "
            "kWh SO FAR  kg CO2 SO FAR    UPDATED\n"
            "4242    batch  gpu-node-02  2026-05-01 00:00    1h00m  ada   vision-lab     1      "
            "0.4000         0.1600  30.0s ago\n");
  EXPECT_EQ(render_running({}, ListingFormat::kTable, now, utc), "");
  EXPECT_EQ(render_running(jobs, ListingFormat::kCsv, now, utc),
            "cluster,job_id,step,node,start,updated,user,account,gpu_count,gpu_model,kwh,kg_co2\n"
            "hpc,4242,batch,gpu-node-02,2026-05-01 00:00:00,2026-05-01 01:00:00,ada,vision-lab,1,"
            "NVIDIA H100 80GB HBM3,0.4,0.16000000000000003\n");  // full precision
  const auto j = nlohmann::json::parse(render_running(jobs, ListingFormat::kJson, now, utc));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["energy_uj"], 1'440'000'000'000);
  EXPECT_EQ(j[0]["updated"], "2026-05-01T01:00:00.000000Z");
}

TEST(RenderJobs, JsonCarriesWorkDoneAndThroughputPerKwh) {
  auto r = sample_record("w", at_s(1'777'593'600));
  r.energy_charged = Microjoules(3'600'000'000'000);  // 1 kWh
  r.work_count = 5000;
  const std::vector<JobRecord> jobs{r};
  const auto j = nlohmann::json::parse(render_jobs(jobs, ListingFormat::kJson, utc));
  EXPECT_EQ(j[0]["work"]["count"], 5000);
  EXPECT_EQ(j[0]["work"]["unit"], "images");
  EXPECT_DOUBLE_EQ(j[0]["work"]["per_kwh"].get<double>(), 5000.0);
  EXPECT_DOUBLE_EQ(j[0]["cpus"].get<double>(), 3.5);
  r.work_count.reset();
  const std::vector<JobRecord> none{r};
  EXPECT_TRUE(
      nlohmann::json::parse(render_jobs(none, ListingFormat::kJson, utc))[0]["work"].is_null());
}

}  // namespace
}  // namespace jobcarbon::ledger
