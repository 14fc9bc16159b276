// The GPU power table used for estimates at submission: the embedded data, lookups by NVML
// device name, and bad tables refused naming the line.
#include <jobcarbon/carbon/gpu_power_table.hpp>

#include <gtest/gtest.h>

namespace jobcarbon::carbon {
namespace {

TEST(GpuPowerTable, EmbeddedTableFindsModelsByTheirNvmlNames) {
  auto t = GpuPowerTable::load_embedded();
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->lookup("NVIDIA H100 80GB HBM3").watts, 700);  // the name the H100 SXM reports
  EXPECT_EQ(t->lookup("NVIDIA H100 PCIe").watts, 350);
  EXPECT_EQ(t->lookup("NVIDIA A100-SXM4-80GB").watts, 400);
  EXPECT_EQ(t->lookup("nvidia a100-pcie-40gb").watts, 250);  // case ignored
  EXPECT_EQ(t->lookup("Tesla V100-SXM2-32GB").watts, 300);
  EXPECT_EQ(t->lookup("Tesla T4").watts, 70);
  const auto unknown = t->lookup("Fake NVIDIA GPU");
  EXPECT_TRUE(unknown.is_default);
  EXPECT_EQ(unknown.watts, 300);
  EXPECT_TRUE(t->lookup("").is_default);
  EXPECT_NE(t->lookup("NVIDIA H100 80GB HBM3").source.find("datasheet"), std::string::npos);
}

TEST(GpuPowerTable, LongestMatchWins) {
  auto t = GpuPowerTable::parse("match,watts,source\n*,100,d\nH100,500,a\nH100 PCIe,350,b\n", "t");
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->lookup("NVIDIA H100 PCIe").watts, 350);
  EXPECT_EQ(t->lookup("NVIDIA H100 SXM").watts, 500);
}

TEST(GpuPowerTable, BadTablesAreRefusedNamingTheLine) {
  auto why = [](std::string_view text) { return GpuPowerTable::parse(text, "g.csv").error(); };
  EXPECT_EQ(why("match,watts,source\n*,300,d\nA100,-5,x\n"),
            "g.csv:3: field 'watts': '-5' is not a power in W between 0 and 5000");
  EXPECT_NE(why("match,watts,source\n*,300,d\nA100,abc,x\n").find("'abc'"), std::string::npos);
  EXPECT_NE(why("match,watts,source\n*,300,d\nA100,1,x\na100,2,y\n").find("duplicate"),
            std::string::npos);
  EXPECT_NE(why("match,watts,source\nA100,1,x\n").find("no default row"), std::string::npos);
  EXPECT_NE(why("match,source\n*,x\n").find("watts"), std::string::npos);
}

}  // namespace
}  // namespace jobcarbon::carbon
