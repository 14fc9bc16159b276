#include <jobcarbon/carbon/cpu_power_table.hpp>

#include <gtest/gtest.h>

namespace jobcarbon::carbon {
namespace {

TEST(CpuPowerTable, MatchesProcCpuinfoModelNames) {
  const auto gold = lookup_cpu_power("Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz");
  ASSERT_TRUE(gold.has_value());
  EXPECT_EQ(gold->model, "Xeon Gold 6148");
  EXPECT_DOUBLE_EQ(gold->tdp_w, 150);
  EXPECT_EQ(gold->cores, 20);
  EXPECT_EQ(gold->threads, 40);
  EXPECT_DOUBLE_EQ(gold->watts_per_core, 7.5);  // 150 W / 20 cores
  EXPECT_EQ(gold->source, "Intel ARK product specifications: Xeon Gold 6148");
  EXPECT_FALSE(gold->is_default);

  const auto epyc = lookup_cpu_power("AMD EPYC 7742 64-Core Processor");
  ASSERT_TRUE(epyc.has_value());
  EXPECT_DOUBLE_EQ(epyc->watts_per_core, 225.0 / 64);

  const auto e5 = lookup_cpu_power("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz");
  ASSERT_TRUE(e5.has_value());
  EXPECT_DOUBLE_EQ(e5->watts_per_core, 120.0 / 14);

  const auto spr = lookup_cpu_power("Intel(R) Xeon(R) Platinum 8480+");
  ASSERT_TRUE(spr.has_value());
  EXPECT_EQ(spr->cores, 56);
}

TEST(CpuPowerTable, WholeWordsOnlyAndUnknownModelsGetNothing) {
  EXPECT_FALSE(lookup_cpu_power("AMD EPYC 7543P 32-Core Processor").has_value());
  EXPECT_FALSE(lookup_cpu_power("AMD EPYC").has_value());
  EXPECT_FALSE(lookup_cpu_power("").has_value());
  EXPECT_FALSE(lookup_cpu_power("Intel(R) Xeon(R) Gold 61480").has_value());
}

TEST(CpuPowerTable, DefaultIsTwelveWattsPerCore) {
  const auto d = default_cpu_power();
  EXPECT_TRUE(d.is_default);
  EXPECT_DOUBLE_EQ(d.watts_per_core, 12.0);
  EXPECT_NE(d.source.find("Green Algorithms"), std::string::npos);
}

TEST(CpuPowerTable, LongestMatchWins) {
  const auto t = CpuPowerTable::parse(
      "match,tdp_w,cores,threads,source\n*,10,1,,D\nEPYC 7,100,10,20,A\nEPYC 7742,225,64,128,B\n",
      "t.csv");
  ASSERT_TRUE(t.has_value()) << t.error();
  EXPECT_EQ(t->lookup("AMD EPYC 7742 64-Core Processor")->source, "B");
  EXPECT_EQ(t->lookup("amd   epyc   7 something")->source, "A");
}

TEST(CpuPowerTable, NormalizesMarksAndSpaces) {
  EXPECT_EQ(normalize_cpu_name("Intel(R) Xeon(R)  Gold 6148 CPU"), "intel xeon gold 6148 cpu");
  EXPECT_EQ(normalize_cpu_name("Intel\xC2\xAE Core\xE2\x84\xA2 i7"), "intel core i7");
  EXPECT_EQ(normalize_cpu_name(" AMD(TM) "), "amd");
}

TEST(CpuPowerTable, MalformedRowsNameTheLine) {
  const std::string header = "match,tdp_w,cores,threads,source\n";
  EXPECT_EQ(CpuPowerTable::parse(header + "*,12,1,,D\nX,abc,4,8,S\n", "t.csv").error(),
            "t.csv:3: field 'tdp_w': not a number: 'abc'");
  EXPECT_EQ(CpuPowerTable::parse(header + "*,12,1,,D\nX,100,0,8,S\n", "t.csv").error(),
            "t.csv:3: field 'cores': must be between 1 and 1024");
  EXPECT_EQ(CpuPowerTable::parse(header + "*,12,1,,D\nX,100,4,2,S\n", "t.csv").error(),
            "t.csv:3: field 'threads': must be at least the number of cores");
  EXPECT_EQ(CpuPowerTable::parse(header + "X,100,4,8,S\n", "t.csv").error(),
            "t.csv: no default row (match '*', the power per core used when no model matches)");
  EXPECT_EQ(CpuPowerTable::parse(header + "*,12,1,,D\nX,100,4,8,S\nx,100,4,8,S\n", "t.csv").error(),
            "t.csv:4: field 'match': 'x' appears twice");
}

}  // namespace
}  // namespace jobcarbon::carbon
