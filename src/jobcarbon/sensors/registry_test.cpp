#include <jobcarbon/sensors/registry.hpp>

#include <algorithm>

#include <gtest/gtest.h>

namespace jobcarbon::sensors {
namespace {

const std::filesystem::path kSysfs =
    std::filesystem::path(JOBCARBON_SOURCE_DIR) / "tests/fixtures/sysfs";
const std::filesystem::path kProc =
    std::filesystem::path(JOBCARBON_SOURCE_DIR) / "tests/fixtures/proc/x86";

SensorPaths paths(const std::string& powercap_tree, const std::string& hwmon_tree) {
  SensorPaths p;
  p.powercap_root = kSysfs / powercap_tree / "class/powercap";
  p.hwmon_root = kSysfs / hwmon_tree / "class/hwmon";
  p.nvml_library = "/nonexistent/libnvidia-ml.so.1";
  p.proc_root = kProc;
  return p;
}

const Probe& probe(const Discovery& d, std::string_view name) {
  return *std::find_if(d.probes.begin(), d.probes.end(),
                       [&](const Probe& p) { return p.name == name; });
}

TEST(Registry, EveryKindIsLookedForInPreferenceOrder) {
  os::FakeClock clock;
  const auto d = discover_sensors(paths("empty", "empty"), {true, true, 10, "test"}, clock);
  ASSERT_EQ(d.probes.size(), 4u);
  EXPECT_EQ(d.probes[0].name, "nvml");
  EXPECT_EQ(d.probes[1].name, "rapl");
  EXPECT_EQ(d.probes[2].name, "hwmon");
  EXPECT_EQ(d.probes[3].name, "estimator");
  EXPECT_FALSE(d.probes[0].sensor);
  EXPECT_FALSE(d.probes[0].unavailable_reason.empty());
}

TEST(Registry, EstimatesOnlyWhereNoHardwareCoversADomain) {
  os::FakeClock clock;
  // Nothing measured: the CPU and memory are both estimated.
  auto none = discover_sensors(paths("empty", "empty"), {true, true, 10, "test"}, clock);
  ASSERT_TRUE(probe(none, "estimator").sensor);
  EXPECT_EQ(probe(none, "estimator").sensor->channels().size(), 2u);
  // Two sockets with DRAM: nothing to estimate.
  auto xeon =
      discover_sensors(paths("intel-2socket-dram", "empty"), {true, true, 10, "test"}, clock);
  EXPECT_FALSE(probe(xeon, "estimator").sensor);
  // Packages without DRAM: only memory is estimated.
  auto amd = discover_sensors(paths("amd-threadripper", "empty"), {true, true, 10, "test"}, clock);
  ASSERT_TRUE(probe(amd, "estimator").sensor);
  ASSERT_EQ(probe(amd, "estimator").sensor->channels().size(), 1u);
  EXPECT_EQ(probe(amd, "estimator").sensor->channels()[0].domain, Domain::kEstimatedMemory);
  // A node meter covers everything.
  auto p9 = discover_sensors(paths("empty", "power9-ibmpowernv"), {true, true, 10, "test"}, clock);
  EXPECT_FALSE(probe(p9, "estimator").sensor);
}

TEST(Registry, AmdEnergySocketIsNotAddedWhenRaplMeasuresThePackage) {
  os::FakeClock clock;
  auto d =
      discover_sensors(paths("amd-threadripper", "amd-energy-ryzen"), {true, true, 10, "t"}, clock);
  const auto& hw = probe(d, "hwmon");
  ASSERT_TRUE(hw.sensor);
  for (const auto& c : hw.sensor->channels()) {
    EXPECT_FALSE(c.additive && c.domain == Domain::kCpuPackage) << c.id;
  }
  EXPECT_TRUE(std::any_of(hw.notes.begin(), hw.notes.end(), [](const std::string& n) {
    return n.find("RAPL already measures") != std::string::npos;
  }));
  // Without RAPL the same socket counter is the CPU measurement.
  auto alone = discover_sensors(paths("empty", "amd-energy-ryzen"), {true, true, 10, "t"}, clock);
  const auto& ch = probe(alone, "hwmon").sensor->channels();
  EXPECT_TRUE(std::any_of(ch.begin(), ch.end(), [](const Channel& c) {
    return c.additive && c.domain == Domain::kCpuPackage;
  }));
}

}  // namespace
}  // namespace jobcarbon::sensors
