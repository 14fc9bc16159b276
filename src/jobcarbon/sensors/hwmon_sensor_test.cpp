#include <jobcarbon/sensors/hwmon_sensor.hpp>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <jobcarbon/testing/temp_dir.hpp>
#include <jobcarbon/testing/unprivileged.hpp>

namespace jobcarbon::sensors {
namespace {

namespace fs = std::filesystem;
using testing::write_file;

const fs::path kFixtures = fs::path(JOBCARBON_SOURCE_DIR) / "tests/fixtures/sysfs";

// A writable copy of a fixture tree that any user may enter, removed at the end.
class TempTree : public testing::TreeCopy {
 public:
  explicit TempTree(const std::string& fixture)
      : TreeCopy(kFixtures / fixture, "jobcarbon-hwmon-") {}
  fs::path hwmon() const { return path() / "class/hwmon"; }
};

std::vector<std::string> ids(const Probe& p) {
  std::vector<std::string> out;
  for (const Channel& c : p.sensor->channels()) out.push_back(c.id);
  return out;
}

std::vector<Reading> read_all(Sensor& s) {
  std::vector<Reading> out;
  s.read(out);
  return out;
}

TEST(HwmonSensor, Power9KeepsEnergyAccumulatorsOnly) {
  const Probe p = probe_hwmon(kFixtures / "power9-ibmpowernv/class/hwmon");
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  EXPECT_EQ(p.name, "hwmon");
  EXPECT_EQ(p.sensor->name(), "hwmon");
  const auto& ch = p.sensor->channels();
  // 12 energy accumulators; the 12 power inputs with the same labels are left out.
  ASSERT_EQ(ch.size(), 12u);
  for (std::size_t i = 0; i < ch.size(); ++i) {
    EXPECT_EQ(ch[i].id, "hwmon:ibmpowernv:ibm,opal:sensors:energy" + std::to_string(i + 1));
    EXPECT_EQ(ch[i].kind, ChannelKind::kEnergyCounter);
    EXPECT_EQ(ch[i].wrap_range, std::nullopt);
  }
  EXPECT_EQ(ch[0].label, "ibmpowernv Chip 0");  // "Chip 0 " in sysfs: trimmed
  EXPECT_EQ(ch[0].domain, Domain::kCpuPackage);
  EXPECT_EQ(ch[3].label, "ibmpowernv Chip 8");
  EXPECT_EQ(ch[3].domain, Domain::kCpuPackage);
  EXPECT_EQ(ch[6].label, "ibmpowernv System");
  EXPECT_EQ(ch[6].domain, Domain::kNode);
  EXPECT_EQ(ch[1].label, "ibmpowernv Chip 0 Vdd");
  EXPECT_EQ(ch[7].label, "ibmpowernv APSS 1");
  for (std::size_t i = 0; i < ch.size(); ++i) {
    const bool whole = i == 0 || i == 3 || i == 6;
    EXPECT_EQ(ch[i].additive, whole) << ch[i].label;
    if (!whole) {
      EXPECT_EQ(ch[i].domain, Domain::kOther) << ch[i].label;
    }
  }
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_NE(p.notes[0].find("12 power channel(s) left out"), std::string::npos) << p.notes[0];

  const auto r = read_all(*p.sensor);
  EXPECT_EQ(r[0], 7510000000000);
  EXPECT_EQ(r[3], 5090000000000);
  EXPECT_EQ(r[6], 21290000000000);
}

TEST(HwmonSensor, Power9PowerInputStandsInForADisabledAccumulator) {
  TempTree t("power9-ibmpowernv");
  write_file(t.hwmon() / "hwmon0/energy7_enable", "0\n");  // newer kernels have *_enable
  const Probe p = probe_hwmon(t.hwmon());
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  const auto& ch = p.sensor->channels();
  ASSERT_EQ(ch.size(), 12u);  // 11 accumulators + the System power input
  EXPECT_EQ(ch[11].id, "hwmon:ibmpowernv:ibm,opal:sensors:power7");
  EXPECT_EQ(ch[11].label, "ibmpowernv System");
  EXPECT_EQ(ch[11].kind, ChannelKind::kPower);
  EXPECT_EQ(ch[11].domain, Domain::kNode);
  EXPECT_TRUE(ch[11].additive);
  EXPECT_EQ(read_all(*p.sensor)[11], 426000000);
  ASSERT_EQ(p.notes.size(), 2u);
  EXPECT_EQ(p.notes[0], "ibmpowernv energy7 (System) left out: disabled (energy7_enable is 0)");
  EXPECT_NE(p.notes[1].find("11 power channel(s) left out"), std::string::npos) << p.notes[1];
}

TEST(HwmonSensor, AmdEnergySocketAddsCoresDoNot) {
  const Probe p = probe_hwmon(kFixtures / "amd-energy-ryzen/class/hwmon");
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  const auto& ch = p.sensor->channels();
  ASSERT_EQ(ch.size(), 7u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(ch[i].label, "amd_energy Ecore00" + std::to_string(i));
    EXPECT_EQ(ch[i].domain, Domain::kOther);
    EXPECT_FALSE(ch[i].additive);
  }
  EXPECT_EQ(ch[6].id, "hwmon:amd_energy:amd_energy.0:energy7");
  EXPECT_EQ(ch[6].label, "amd_energy Esocket0");
  EXPECT_EQ(ch[6].domain, Domain::kCpuPackage);
  EXPECT_TRUE(ch[6].additive);
  EXPECT_TRUE(p.notes.empty());
  const auto r = read_all(*p.sensor);
  EXPECT_EQ(r[0], 594130000000);
  EXPECT_EQ(r[6], 3510000000000);
}

// The four ACPI meters of one GH200 socket, as power channels in µW.
void expect_grace_meters(const Probe& p) {
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  // Ids follow the ACPI device, not hwmonN: the same in both driver layouts.
  EXPECT_EQ(ids(p),
            (std::vector<std::string>{
                "hwmon:power_meter:ACPI000D:00:power1", "hwmon:power_meter:ACPI000D:01:power1",
                "hwmon:power_meter:ACPI000D:02:power1", "hwmon:power_meter:ACPI000D:03:power1"}));
  const auto& ch = p.sensor->channels();
  EXPECT_EQ(ch[0].label, "power_meter Module Power Socket 0");
  EXPECT_EQ(ch[0].domain, Domain::kNode);
  EXPECT_TRUE(ch[0].additive);
  EXPECT_EQ(ch[1].label, "power_meter Grace Power Socket 0");
  EXPECT_EQ(ch[1].domain, Domain::kCpuPackage);
  EXPECT_TRUE(ch[1].additive);
  EXPECT_EQ(ch[2].label, "power_meter CPU Power Socket 0");
  EXPECT_EQ(ch[3].label, "power_meter SysIO Power Socket 0");
  for (int i : {2, 3}) {
    EXPECT_EQ(ch[i].domain, Domain::kOther);
    EXPECT_FALSE(ch[i].additive);
  }
  for (const Channel& c : ch) EXPECT_EQ(c.kind, ChannelKind::kPower);
  const auto r = read_all(*p.sensor);
  EXPECT_EQ(r[0], 412000000);
  EXPECT_EQ(r[1], 96000000);
  EXPECT_EQ(r[2], 71000000);
  EXPECT_EQ(r[3], 17000000);
}

TEST(HwmonSensor, GraceAcpiMetersLegacyLayout) {
  expect_grace_meters(probe_hwmon(kFixtures / "grace-acpi-legacy/class/hwmon"));
}

TEST(HwmonSensor, GraceAcpiMetersNewLayout) {
  expect_grace_meters(probe_hwmon(kFixtures / "grace-acpi-hwmon-info/class/hwmon"));
}

TEST(HwmonSensor, MeterFoundAgainAfterItsHwmonNumberChanged) {
  TempTree t("grace-acpi-hwmon-info");
  const Probe p = probe_hwmon(t.hwmon());
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  // The driver re-registers the CPU meter: hwmon3 disappears, hwmon7 appears.
  const fs::path acpi = t.path() / "devices/LNXSYSTM:00/LNXSYBUS:00/ACPI000D:02/hwmon";
  fs::rename(acpi / "hwmon3", acpi / "hwmon7");
  fs::remove(t.hwmon() / "hwmon3");
  fs::create_directory_symlink("../../devices/LNXSYSTM:00/LNXSYBUS:00/ACPI000D:02/hwmon/hwmon7",
                               t.hwmon() / "hwmon7");
  write_file(acpi / "hwmon7/power1_average", "80000000\n");
  const auto r = read_all(*p.sensor);
  EXPECT_EQ(r[2], 80000000);
  EXPECT_EQ(r[0], 412000000);
  EXPECT_EQ(p.sensor->channels()[2].id, "hwmon:power_meter:ACPI000D:02:power1");
  EXPECT_EQ(read_all(*p.sensor)[2], 80000000);  // and stays bound to the new place
}

TEST(HwmonSensor, InvalidAcpiReadingIsAnError) {
  TempTree t("grace-acpi-legacy");
  const Probe p = probe_hwmon(t.hwmon());
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  write_file(t.hwmon() / "hwmon1/device/power1_average", "4294967295000\n");
  const auto r = read_all(*p.sensor);
  ASSERT_FALSE(r[0].has_value());
  EXPECT_NE(r[0].error().find("invalid reading 4294967295000"), std::string::npos) << r[0].error();
  EXPECT_EQ(r[1], 96000000);
}

TEST(HwmonSensor, DisabledChannelsAreLeftOut) {
  const Probe p = probe_hwmon(kFixtures / "hwmon-disabled-channel/class/hwmon");
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  // Virtual chips have no parent device: their ids fall back to hwmonN.
  EXPECT_EQ(ids(p), (std::vector<std::string>{"hwmon:energy_with_enable:hwmon0:energy1",
                                              "hwmon:energy_with_enable:hwmon0:energy2",
                                              "hwmon:test_power_chip:hwmon1:power1",
                                              "hwmon:test_power_chip:hwmon1:power2"}));
  for (const Channel& c : p.sensor->channels()) {
    EXPECT_EQ(c.domain, Domain::kOther);
    EXPECT_FALSE(c.additive);
  }
  ASSERT_EQ(p.notes.size(), 2u);
  EXPECT_EQ(p.notes[0],
            "energy_with_enable energy3 (Rail_C) left out: disabled (energy3_enable is 0)");
  EXPECT_EQ(p.notes[1],
            "test_power_chip power3 (PSU_Rail_C) left out: disabled (power3_enable is 0)");
  const auto r = read_all(*p.sensor);
  EXPECT_EQ(r[1], 200000000);
  EXPECT_EQ(r[3], 15000000);
}

TEST(HwmonSensor, PowerAverageIsPreferredToInstantPower) {
  // As amdgpu: power1_average and power1_input side by side (values from the kepler tree).
  TempTree t("empty");
  const fs::path chip = t.hwmon() / "hwmon0";
  fs::create_directories(chip);
  write_file(chip / "name", "amdgpu\n");
  write_file(chip / "power1_average", "118000000\n");
  write_file(chip / "power1_input", "120000000\n");
  write_file(chip / "power1_average_interval", "1000\n");
  const Probe p = probe_hwmon(t.hwmon());
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  ASSERT_EQ(ids(p), (std::vector<std::string>{"hwmon:amdgpu:hwmon0:power1"}));
  EXPECT_EQ(p.sensor->channels()[0].kind, ChannelKind::kPower);
  EXPECT_EQ(p.sensor->channels()[0].label, "amdgpu power1");
  EXPECT_EQ(read_all(*p.sensor)[0], 118000000);
}

TEST(HwmonSensor, ChipsWithoutPowerChannelsAreUnavailable) {
  // coretemp, a legacy applesmc, and an NVMe chip whose runtime-PM directory is named power/.
  const fs::path root = kFixtures / "hwmon-no-power/class/hwmon";
  const Probe p = probe_hwmon(root);
  EXPECT_EQ(p.sensor, nullptr);
  EXPECT_EQ(p.unavailable_reason,
            "no power or energy channel in the 3 hwmon chip(s) under " + root.string());
}

TEST(HwmonSensor, EmptyRootIsUnavailable) {
  const fs::path root = kFixtures / "empty/class/hwmon";
  const Probe p = probe_hwmon(root);
  EXPECT_EQ(p.sensor, nullptr);
  EXPECT_EQ(p.unavailable_reason, "no hwmon chips under " + root.string());
}

TEST(HwmonSensor, ReadsChangedValueAndVanishedFileAsError) {
  TempTree t("amd-energy-ryzen");
  const Probe p = probe_hwmon(t.hwmon());
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  write_file(t.hwmon() / "hwmon2/energy7_input", "3510000123456\n");
  EXPECT_EQ(read_all(*p.sensor)[6], 3510000123456);
  fs::remove(t.hwmon() / "hwmon2/energy1_input");
  std::vector<Reading> r;
  ASSERT_NO_THROW(p.sensor->read(r));
  ASSERT_FALSE(r[0].has_value());
  EXPECT_NE(r[0].error().find("energy1_input"), std::string::npos) << r[0].error();
  EXPECT_EQ(r[6], 3510000123456);
}

TEST(HwmonSensor, RootOnlyInputsGiveAnActionableReason) {
  TempTree t("amd-energy-ryzen");
  for (int i = 1; i <= 7; ++i) {
    const fs::path f = t.hwmon() / ("hwmon2/energy" + std::to_string(i) + "_input");
    ASSERT_EQ(::chmod(f.c_str(), ::geteuid() == 0 ? 0440 : 0000), 0);  // amd_energy's mode
  }
  const std::string out =
      testing::run_unprivileged([&] {
        const Probe p = probe_hwmon(t.hwmon());
        return std::string(p.sensor ? "available" : "unavailable") + ": " + p.unavailable_reason;
      }).output;
  EXPECT_TRUE(out.starts_with("unavailable: hwmon power and energy inputs are not readable"))
      << out;
  EXPECT_NE(out.find("Permission denied"), std::string::npos) << out;
  EXPECT_NE(out.find("CVE-2020-12912"), std::string::npos) << out;
  EXPECT_NE(out.find("run jobcarbon as root"), std::string::npos) << out;
}

}  // namespace
}  // namespace jobcarbon::sensors
