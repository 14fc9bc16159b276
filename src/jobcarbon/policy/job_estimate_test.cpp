// Estimates at submission from requested resources, and Slurm time limits.
#include <jobcarbon/policy/job_estimate.hpp>

#include <random>

#include <gtest/gtest.h>

namespace jobcarbon::policy {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(EstimateJob, MultipliesPowerTimeNodesPueAndIntensity) {
  // 4 GPUs × 300 W + 32 CPUs × 12.5 W = 1600 W per node, 2 nodes, 10 h = 32 kWh;
  // × PUE 1.25 × 0.4 kg/kWh = 16 kg.
  auto e =
      estimate_job({4, 32, 2, hours(10)}, {300, "learned from 3 jobs"}, {12.5, "table"}, 0.4, 1.25);
  ASSERT_TRUE(e) << e.error();
  EXPECT_DOUBLE_EQ(e->kwh, 32.0);
  EXPECT_DOUBLE_EQ(e->co2.value, 16.0);
  EXPECT_EQ(e->summary,
            "4 GPUs × 300 W + 32 CPUs × 12.5 W for 10h00m on 2 nodes: 32.00 kWh × PUE 1.25 × "
            "0.400 kg/kWh = 16.000 kg CO2; GPU power learned from 3 jobs; CPU power table");
  auto cpu_only = estimate_job({0, 1, 1, minutes(30)}, {300, "x"}, {10, "y"}, 0.5, 1.0);
  EXPECT_DOUBLE_EQ(cpu_only->kwh, 0.005);
  EXPECT_EQ(cpu_only->summary.find("GPU"), std::string::npos);
}

TEST(EstimateJob, RefusesNonsenseNamingIt) {
  const DevicePower p{300, "t"};
  auto why = [&](JobResources r, double intensity = 0.4, double pue = 1.0) {
    return estimate_job(r, p, p, intensity, pue).error();
  };
  EXPECT_NE(why({0, 0, 1, hours(1)}).find("no GPU and no CPU"), std::string::npos);
  EXPECT_NE(why({-1, 0, 1, hours(1)}).find("--gpus -1"), std::string::npos);
  EXPECT_NE(why({1, 0, 0, hours(1)}).find("--nodes 0"), std::string::npos);
  EXPECT_NE(why({1, 0, 1, seconds(0)}).find("--time-limit"), std::string::npos);
  EXPECT_NE(why({1, 0, 1, hours(1)}, -0.1).find("intensity"), std::string::npos);
  EXPECT_NE(why({1, 0, 1, hours(1)}, 0.4, 0.9).find("PUE"), std::string::npos);
  EXPECT_FALSE(estimate_job({1, 0, 1, hours(1)}, {std::nan(""), "t"}, p, 0.4, 1));
}

TEST(ParseTimeLimit, SlurmFormsAndUnits) {
  EXPECT_EQ(parse_time_limit("90"), minutes(90));
  EXPECT_EQ(parse_time_limit("90:30"), minutes(90) + seconds(30));
  EXPECT_EQ(parse_time_limit("12:00:00"), hours(12));
  EXPECT_EQ(parse_time_limit("2-12"), hours(60));
  EXPECT_EQ(parse_time_limit("1-00:30"), hours(24) + minutes(30));
  EXPECT_EQ(parse_time_limit("1-00:00:10"), hours(24) + seconds(10));
  EXPECT_EQ(parse_time_limit("45m"), minutes(45));
  EXPECT_EQ(parse_time_limit("3d"), hours(72));
  EXPECT_EQ(parse_time_limit("90s"), seconds(90));
  for (const char* bad :
       {"", "UNLIMITED", "0", "abc", "1:2:3:4", "-5", "5x", "400d", "1.5h", "1--2", ":", "h"}) {
    auto r = parse_time_limit(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().find(std::string("'") + bad + "'"), std::string::npos) << r.error();
  }
}

TEST(ParseTimeLimit, PropertyRandomTextNeverBreaksIt) {
  std::mt19937_64 rng(7);
  const std::string alphabet = "0123456789:-smhdx ";
  for (int i = 0; i < 20000; ++i) {
    std::string t;
    const int n = static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) t += alphabet[rng() % alphabet.size()];
    auto r = parse_time_limit(t);
    if (r) {
      EXPECT_GT(r->count(), 0) << t;
      EXPECT_LE(*r, hours(24 * 366)) << t;
    } else {
      EXPECT_NE(r.error().find("--time-limit"), std::string::npos) << t;
    }
  }
}

}  // namespace
}  // namespace jobcarbon::policy
