#include <jobcarbon/sensors/rapl_sensor.hpp>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <numeric>
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
      : TreeCopy(kFixtures / fixture, "jobcarbon-rapl-") {}
  fs::path powercap() const { return path() / "class/powercap"; }
};

// Make a file unreadable for the process run_unprivileged starts: owned by root, mode 0400, as
// the kernel creates energy_uj (when the tests do not run as root, mode 0000 for its owner).
void make_root_only(const fs::path& p) {
  ASSERT_EQ(::chmod(p.c_str(), ::geteuid() == 0 ? 0400 : 0000), 0) << p;
}

// A probe summarised as text, to pass it out of a child process.
std::string summary(const Probe& p) {
  std::ostringstream s;
  s << "available=" << (p.sensor != nullptr) << "\n";
  if (p.sensor) {
    for (const Channel& c : p.sensor->channels()) s << "channel=" << c.id << "\n";
  }
  for (const std::string& n : p.notes) s << "note=" << n << "\n";
  s << "reason=" << p.unavailable_reason << "\n";
  return s.str();
}

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

TEST(RaplSensor, TwoSocketXeonHasPackagesAndDramOnceEach) {
  const Probe p = probe_rapl(kFixtures / "intel-2socket-dram/class/powercap");
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  EXPECT_EQ(p.name, "rapl");
  EXPECT_EQ(p.sensor->name(), "rapl");
  // Each DRAM zone is both flat in the class directory and nested in its package: counted once.
  EXPECT_EQ(ids(p), (std::vector<std::string>{"rapl:intel-rapl:0", "rapl:intel-rapl:0:0",
                                              "rapl:intel-rapl:1", "rapl:intel-rapl:1:0"}));
  const auto& ch = p.sensor->channels();
  EXPECT_EQ(ch[0].label, "package-0");
  EXPECT_EQ(ch[1].label, "package-0 dram");
  EXPECT_EQ(ch[2].label, "package-1");
  EXPECT_EQ(ch[3].label, "package-1 dram");
  for (int i : {0, 2}) {
    EXPECT_EQ(ch[i].domain, Domain::kCpuPackage);
    EXPECT_EQ(ch[i].wrap_range, Microjoules(262143328850));
  }
  for (int i : {1, 3}) {
    EXPECT_EQ(ch[i].domain, Domain::kDram);
    EXPECT_EQ(ch[i].wrap_range, Microjoules(65712999613));  // server DRAM has its own range
  }
  for (const Channel& c : ch) {
    EXPECT_TRUE(c.additive) << c.id;
    EXPECT_EQ(c.kind, ChannelKind::kEnergyCounter);
  }
  EXPECT_TRUE(p.notes.empty()) << p.notes.front();

  const auto r = read_all(*p.sensor);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0], 258218293244);
  EXPECT_EQ(r[1], 24468409791);
  EXPECT_EQ(r[2], 130570505826);
  EXPECT_EQ(r[3], 64930394974);
}

TEST(RaplSensor, ZonesWithEnabledZeroStillCount) {
  // The Xeon capture shows enabled=0 (the power-limit enable) on running counters.
  std::ifstream enabled(kFixtures / "intel-2socket-dram/class/powercap/intel-rapl:0/enabled");
  std::string value;
  enabled >> value;
  ASSERT_EQ(value, "0");
  const Probe p = probe_rapl(kFixtures / "intel-2socket-dram/class/powercap");
  ASSERT_NE(p.sensor, nullptr);
  EXPECT_EQ(p.sensor->channels()[0].id, "rapl:intel-rapl:0");
}

TEST(RaplSensor, ThreadripperDiesAddUpAndCoreIsABreakdown) {
  const Probe p = probe_rapl(kFixtures / "amd-threadripper/class/powercap");
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  EXPECT_EQ(ids(p), (std::vector<std::string>{"rapl:intel-rapl:0", "rapl:intel-rapl:0:0",
                                              "rapl:intel-rapl:1"}));
  const auto& ch = p.sensor->channels();
  EXPECT_EQ(ch[0].label, "package-0-die-0");
  EXPECT_EQ(ch[0].domain, Domain::kCpuPackage);
  EXPECT_TRUE(ch[0].additive);
  EXPECT_EQ(ch[1].label, "package-0-die-0 core");
  EXPECT_EQ(ch[1].domain, Domain::kOther);
  EXPECT_FALSE(ch[1].additive);
  EXPECT_EQ(ch[2].label, "package-0-die-1");
  EXPECT_EQ(ch[2].domain, Domain::kCpuPackage);
  EXPECT_TRUE(ch[2].additive);
  for (const Channel& c : ch) EXPECT_EQ(c.wrap_range, Microjoules(65532610987)) << c.id;
  const auto r = read_all(*p.sensor);
  EXPECT_EQ(r[0], 10360237493);
  EXPECT_EQ(r[1], 118000000);
  EXPECT_EQ(r[2], 10359908363);
}

TEST(RaplSensor, ClientDropsMmioDuplicateAndNeverAddsPsys) {
  const Probe p = probe_rapl(kFixtures / "intel-client-psys-mmio/class/powercap");
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  EXPECT_EQ(ids(p), (std::vector<std::string>{"rapl:intel-rapl:0", "rapl:intel-rapl:0:0",
                                              "rapl:intel-rapl:0:1", "rapl:intel-rapl:1"}));
  const auto& ch = p.sensor->channels();
  EXPECT_EQ(ch[0].label, "package-0");
  EXPECT_EQ(ch[0].domain, Domain::kCpuPackage);
  EXPECT_TRUE(ch[0].additive);
  EXPECT_EQ(ch[1].label, "package-0 core");
  EXPECT_EQ(ch[2].label, "package-0 uncore");
  EXPECT_EQ(ch[3].label, "psys");
  for (int i : {1, 2, 3}) {
    EXPECT_EQ(ch[i].domain, Domain::kOther) << ch[i].id;
    EXPECT_FALSE(ch[i].additive) << ch[i].id;
  }
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_NE(p.notes[0].find("intel-rapl-mmio:0 (package-0) left out"), std::string::npos)
      << p.notes[0];
  EXPECT_NE(p.notes[0].find("intel-rapl:0"), std::string::npos);

  // What a total may add up: the MSR package alone (52649883221 µJ), never psys or the MMIO copy.
  const auto r = read_all(*p.sensor);
  std::int64_t additive = 0;
  for (std::size_t i = 0; i < ch.size(); ++i) {
    if (ch[i].additive) additive += *r[i];
  }
  EXPECT_EQ(additive, 52649883221);
}

TEST(RaplSensor, CounterNearItsWrapPoint) {
  const Probe p = probe_rapl(kFixtures / "intel-1socket-near-wrap/class/powercap");
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  ASSERT_EQ(ids(p), (std::vector<std::string>{"rapl:intel-rapl:0", "rapl:intel-rapl:0:0"}));
  const auto& ch = p.sensor->channels();
  EXPECT_EQ(ch[1].label, "package-0 core");
  EXPECT_FALSE(ch[1].additive);
  const auto r = read_all(*p.sensor);
  ASSERT_TRUE(r[0].has_value());
  EXPECT_EQ(*ch[0].wrap_range - Microjoules(*r[0]), Microjoules(3'000'000));  // 3 J left
}

TEST(RaplSensor, ReadsValuesWrittenThroughTheClassLinks) {
  TempTree t("intel-2socket-dram");
  const Probe p = probe_rapl(t.powercap());
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  write_file(t.powercap() / "intel-rapl:1/energy_uj", "130570605826\n");
  // The nested path and the flat class entry are one file, as on a real kernel.
  write_file(t.powercap() / "intel-rapl:0/intel-rapl:0:0/energy_uj", "7\n");
  const auto r = read_all(*p.sensor);
  EXPECT_EQ(r[2], 130570605826);
  EXPECT_EQ(r[1], 7);
  EXPECT_EQ(r[0], 258218293244);
}

TEST(RaplSensor, VanishedCounterReadsAsErrorWithoutThrowing) {
  TempTree t("intel-2socket-dram");
  const Probe p = probe_rapl(t.powercap());
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  fs::remove(t.path() / "devices/virtual/powercap/intel-rapl/intel-rapl:1/energy_uj");
  std::vector<Reading> r;
  ASSERT_NO_THROW(p.sensor->read(r));
  ASSERT_EQ(r.size(), 4u);
  ASSERT_FALSE(r[2].has_value());
  EXPECT_NE(r[2].error().find("intel-rapl:1/energy_uj"), std::string::npos) << r[2].error();
  EXPECT_EQ(r[0], 258218293244);
  EXPECT_EQ(r[3], 64930394974);
}

TEST(RaplSensor, SubzonesOnlyNestedOrOnlyFlatAreFoundOnce) {
  TempTree t("intel-2socket-dram");
  fs::remove(t.powercap() / "intel-rapl:0:0");  // package 0's DRAM now only nested
  fs::remove(t.path() / "devices/virtual/powercap/intel-rapl/intel-rapl:1/intel-rapl:1:0/name");
  const Probe p = probe_rapl(t.powercap());
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  EXPECT_EQ(ids(p), (std::vector<std::string>{"rapl:intel-rapl:0", "rapl:intel-rapl:0:0",
                                              "rapl:intel-rapl:1", "rapl:intel-rapl:1:0"}));
  EXPECT_EQ(p.sensor->channels()[1].domain, Domain::kDram);
  // A zone without `name` cannot be trusted to add up: kept as a breakdown, with a note.
  EXPECT_EQ(p.sensor->channels()[3].domain, Domain::kOther);
  EXPECT_FALSE(p.sensor->channels()[3].additive);
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_NE(p.notes[0].find("intel-rapl:1:0"), std::string::npos) << p.notes[0];
  EXPECT_EQ(read_all(*p.sensor)[1], 24468409791);
}

TEST(RaplSensor, RealDirectoriesAndNumericOrder) {
  // Archives (node_exporter, procfs) store zones as plain directories; "10" sorts after "2".
  TempTree t("empty");
  for (const auto& [dir, name] :
       {std::pair{"intel-rapl:10", "package-10"}, std::pair{"intel-rapl:2", "package-2"}}) {
    const fs::path z = t.path() / "class/powercap" / dir;
    fs::create_directories(z);
    write_file(z / "name", std::string(name) + "\n");
    write_file(z / "energy_uj", "100\n");
    write_file(z / "max_energy_range_uj", "262143328850\n");
  }
  const Probe p = probe_rapl(t.powercap());
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  EXPECT_EQ(ids(p), (std::vector<std::string>{"rapl:intel-rapl:2", "rapl:intel-rapl:10"}));
  EXPECT_EQ(p.sensor->channels()[1].label, "package-10");
}

TEST(RaplSensor, MmioZoneWithoutMsrTwinIsKept) {
  TempTree t("intel-client-psys-mmio");
  fs::remove(t.powercap() / "intel-rapl:0");  // the MSR package is gone (its subzones stay)
  const Probe p = probe_rapl(t.powercap());
  ASSERT_NE(p.sensor, nullptr) << p.unavailable_reason;
  EXPECT_EQ(ids(p), (std::vector<std::string>{"rapl:intel-rapl:0:0", "rapl:intel-rapl:0:1",
                                              "rapl:intel-rapl:1", "rapl:intel-rapl-mmio:0"}));
  const Channel& mmio = p.sensor->channels()[3];
  EXPECT_EQ(mmio.label, "package-0");
  EXPECT_EQ(mmio.domain, Domain::kCpuPackage);
  EXPECT_TRUE(mmio.additive);
  EXPECT_TRUE(p.notes.empty());
  EXPECT_EQ(read_all(*p.sensor)[3], 52653883233);
}

TEST(RaplSensor, EmptyOrMissingRootIsUnavailable) {
  const fs::path missing = kFixtures / "empty/class/powercap";
  const Probe p = probe_rapl(missing);
  EXPECT_EQ(p.sensor, nullptr);
  EXPECT_EQ(p.unavailable_reason, "no RAPL powercap zones under " + missing.string());

  TempTree t("empty");
  fs::create_directories(t.powercap() / "intel-rapl");  // a control type alone: no counter
  write_file(t.powercap() / "intel-rapl/enabled", "1\n");
  const Probe q = probe_rapl(t.powercap());
  EXPECT_EQ(q.sensor, nullptr);
  EXPECT_EQ(q.unavailable_reason, "no RAPL powercap zones under " + t.powercap().string());
}

TEST(RaplSensor, RootOnlyCountersGiveAnActionableReason) {
  TempTree t("intel-2socket-dram");
  for (const char* z : {"intel-rapl:0", "intel-rapl:0:0", "intel-rapl:1", "intel-rapl:1:0"}) {
    make_root_only(t.powercap() / z / "energy_uj");
  }
  const std::string out =
      testing::run_unprivileged([&] { return summary(probe_rapl(t.powercap())); }).output;
  EXPECT_NE(out.find("available=0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("readable by root only"), std::string::npos) << out;
  EXPECT_NE(out.find("Permission denied"), std::string::npos) << out;
  EXPECT_NE(out.find("CVE-2020-8694"), std::string::npos) << out;
  EXPECT_NE(out.find("chmod o+r " + t.powercap().string() + "/*/energy_uj"), std::string::npos)
      << out;
  EXPECT_NE(out.find("udev rule"), std::string::npos) << out;
  EXPECT_NE(out.find("run jobcarbon as root"), std::string::npos) << out;
  EXPECT_NE(out.find("falls back to estimates"), std::string::npos) << out;
  // The reason says it once; no per-zone note repeats it.
  EXPECT_EQ(out.find("note="), std::string::npos) << out;
}

TEST(RaplSensor, SomeRootOnlyCountersAreLeftOutWithANote) {
  TempTree t("intel-2socket-dram");
  make_root_only(t.powercap() / "intel-rapl:1/energy_uj");
  const std::string out =
      testing::run_unprivileged([&] { return summary(probe_rapl(t.powercap())); }).output;
  EXPECT_NE(out.find("available=1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("channel=rapl:intel-rapl:0\nchannel=rapl:intel-rapl:0:0\n"
                     "channel=rapl:intel-rapl:1:0\nnote=intel-rapl:1 (package-1) left out: "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("root-only"), std::string::npos) << out;
}

}  // namespace
}  // namespace jobcarbon::sensors
