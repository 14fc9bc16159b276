#include <jobcarbon/report/live_line.hpp>
#include <jobcarbon/report/run_report.hpp>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

namespace jobcarbon::report {
namespace {

using namespace std::chrono_literals;
using sensors::Domain;

RunReport sample_report() {
  RunReport r;
  r.job_id = "local-1";
  r.host = "ws1";
  r.command = {"python3", "train.py", "--epochs", "10"};
  r.exit_code = 0;
  r.start = os::WallTime(std::chrono::seconds(1'800'000'000));
  r.end = r.start + 100s;
  r.duration = 100s;
  r.scope = "shared machine";
  r.charged[Domain::kGpu] = Microjoules(20'000'000'000);
  r.charged[Domain::kCpuPackage] = Microjoules(1'500'000'000);
  r.machine = r.charged;
  r.machine[Domain::kCpuPackage] = Microjoules(6'000'000'000);
  r.unallocated[Domain::kCpuPackage] = Microjoules(4'500'000'000);
  r.domain_method[static_cast<std::size_t>(Domain::kGpu)] = "hardware energy counter (NVML)";
  r.method = method_of(r.charged);
  r.intensity = {0.441, "DE", "Germany", "eea-2016-study", 2016, "direct, generation",
                 "EEA", false};
  r.pue = 1.5;
  r.facility_kwh = to_kwh(r.charged.total()) * r.pue;
  r.co2_kg = r.facility_kwh * 0.441;
  r.equivalents.push_back({"household_days", "household-days of electricity", 0.0896,
                           "10 kWh per household-day", "the study"});
  return r;
}

TEST(RunReport, MethodOfDomains) {
  attribution::DomainEnergy e;
  EXPECT_EQ(method_of(e), "measured");
  e[Domain::kEstimatedCpu] = Microjoules(5);
  EXPECT_EQ(method_of(e), "estimated");
  e[Domain::kDram] = Microjoules(5);
  EXPECT_EQ(method_of(e), "mixed");
}

TEST(RunReport, JsonHasTheDocumentedKeysAndExactMicrojoules) {
  const auto j = to_json(sample_report());
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["energy_uj"], 21'500'000'000);
  EXPECT_DOUBLE_EQ(j["energy_j"].get<double>(), 21'500.0);
  EXPECT_DOUBLE_EQ(j["domains"]["gpu"].get<double>(), 20'000.0);
  EXPECT_DOUBLE_EQ(j["domains"]["estimated_memory"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(j["machine_energy_j"].get<double>(), 26'000.0);
  EXPECT_DOUBLE_EQ(j["unallocated_energy_j"].get<double>(), 4'500.0);
  EXPECT_EQ(j["method"], "measured");
  EXPECT_DOUBLE_EQ(j["intensity_kg_per_kwh"].get<double>(), 0.441);
  EXPECT_DOUBLE_EQ(j["pue"].get<double>(), 1.5);
  EXPECT_EQ(j["command"][1], "train.py");
  EXPECT_EQ(j["start"], "2027-01-15T08:00:00Z");
  EXPECT_DOUBLE_EQ(j["average_power_w"].get<double>(), 215.0);
  EXPECT_EQ(j["equivalents"]["household_days"]["factor"], "10 kWh per household-day");
  for (const char* key : {"duration_s", "domains", "machine_energy_j", "unallocated_energy_j",
                          "co2_kg", "equivalents", "exit_code"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
}

TEST(RunReport, TextShowsEveryNumberWithItsMethod) {
  const auto t = render_text(sample_report());
  EXPECT_NE(t.find("python3 train.py --epochs 10 (exit 0)"), std::string::npos) << t;
  EXPECT_NE(t.find("20000.0 J"), std::string::npos) << t;
  EXPECT_NE(t.find("hardware energy counter (NVML)"), std::string::npos) << t;
  EXPECT_NE(t.find("unallocated 4500.0 J"), std::string::npos) << t;
  EXPECT_NE(t.find("0.441 kg CO2/kWh — DE (Germany)"), std::string::npos) << t;
  EXPECT_NE(t.find("dataset eea-2016-study (2016)"), std::string::npos) << t;
  EXPECT_NE(t.find("household-days of electricity"), std::string::npos) << t;
  EXPECT_NE(t.find("average 215.0 W"), std::string::npos) << t;
}

TEST(LiveLine, ShowsWattsEnergyAndGrams) {
  LiveStatus s;
  s.elapsed = 3723s;
  s.last_interval[Domain::kGpu] = Microjoules(250'000'000);
  s.last_interval[Domain::kCpuPackage] = Microjoules(30'000'000);
  s.last_interval_length = 1s;
  s.energy_so_far = Microjoules(12'340'000'000);
  s.co2_kg_so_far = 0.00152;
  EXPECT_EQ(live_line(s), "jobcarbon 1:02:03  gpu 250.0 W cpu 30.0 W | 12.34 kJ | 1.52 g CO2");
}

}  // namespace
}  // namespace jobcarbon::report
