#include <jobcarbon/os/machine.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

namespace jobcarbon::os {
namespace {

const std::filesystem::path kFixtures =
    std::filesystem::path(JOBCARBON_SOURCE_DIR) / "tests/fixtures/proc";

// ticks of /proc/stat in microseconds, with the machine's own tick rate (Machine uses it too).
CpuTime ticks(std::int64_t n) {
  return CpuTime(n * 1'000'000 / ::sysconf(_SC_CLK_TCK));
}

TEST(Machine, X86TwoSocketFixture) {
  const Machine m(kFixtures / "x86");
  EXPECT_EQ(m.online_cpus().value(), 4);
  // cpu  1000 200 300 5000 100 10 20 30 400 50: total = user..steal = 6660 ticks, guest (400)
  // and guest_nice (50) are already inside user and nice; idle+iowait = 5100, busy = 1560.
  const CpuTimes t = m.cpu_times().value();
  EXPECT_EQ(t.total, ticks(6660));
  EXPECT_EQ(t.busy, ticks(1560));
  const MemoryInfo mem = m.memory().value();
  EXPECT_EQ(mem.total_bytes, 394846972LL * 1024);
  EXPECT_EQ(mem.available_bytes, 380123456LL * 1024);
  EXPECT_EQ(m.cpu_model(), "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz");
  EXPECT_EQ(m.hostname(), "gpu-node-17");
}

TEST(Machine, Power9Ac922Fixture) {
  const Machine m(kFixtures / "power9");
  EXPECT_EQ(m.online_cpus().value(), 160);
  const CpuTimes t = m.cpu_times().value();
  EXPECT_EQ(t.total, ticks(8000 + 2000 + 150000 + 500 + 100 + 200));
  EXPECT_EQ(t.busy, ticks(8000 + 2000 + 100 + 200));
  EXPECT_EQ(m.memory().value().total_bytes, 535822336LL * 1024);
  EXPECT_EQ(m.cpu_model(), "POWER9, altivec supported");
  EXPECT_EQ(m.hostname(), "ac922-042");
}

TEST(Machine, BrokenFilesAreErrorsThatNameTheFile) {
  const Machine m(kFixtures / "broken");
  ASSERT_FALSE(m.online_cpus().has_value());
  EXPECT_NE(m.online_cpus().error().find("broken/stat: no cpuN line"), std::string::npos);
  ASSERT_FALSE(m.cpu_times().has_value());
  EXPECT_NE(m.cpu_times().error().find("'abc'"), std::string::npos) << m.cpu_times().error();
  ASSERT_FALSE(m.memory().has_value());
  EXPECT_NE(m.memory().error().find("broken/meminfo"), std::string::npos);
  EXPECT_EQ(m.cpu_model(), "");
  // No sys/kernel/hostname in the fixture: the real host name is the fallback.
  char buf[256] = {};
  ASSERT_EQ(::gethostname(buf, sizeof buf - 1), 0);
  EXPECT_EQ(m.hostname(), buf);
}

TEST(Machine, MissingRootIsAnErrorNotACrash) {
  const Machine m(kFixtures / "no-such-root");
  ASSERT_FALSE(m.cpu_times().has_value());
  EXPECT_NE(m.cpu_times().error().find("No such file or directory"), std::string::npos);
  EXPECT_FALSE(m.online_cpus().has_value());
  EXPECT_FALSE(m.memory().has_value());
  EXPECT_EQ(m.cpu_model(), "");
}

TEST(Machine, RealProcIsReadable) {
  const Machine m;
  EXPECT_GE(m.online_cpus().value(), 1);
  const CpuTimes t = m.cpu_times().value();
  EXPECT_GT(t.total, CpuTime(0));
  EXPECT_LE(t.busy, t.total);
  const MemoryInfo mem = m.memory().value();
  EXPECT_GT(mem.total_bytes, 0);
  EXPECT_LE(mem.available_bytes, mem.total_bytes);
  EXPECT_FALSE(m.hostname().empty());
}

TEST(ParseCpuTimes, OldKernelWithFourFieldsAndGarbage) {
  EXPECT_EQ(parse_cpu_times("cpu  1 2 3 4\n", 100).value().total, CpuTime(100'000));
  EXPECT_EQ(parse_cpu_times("cpu  1 2 3 4\n", 100).value().busy, CpuTime(60'000));
  EXPECT_FALSE(parse_cpu_times("cpu  1 2 3\n", 100).has_value());
  EXPECT_FALSE(parse_cpu_times("cpu0 1 2 3 4\n", 100).has_value());  // no aggregate line
  EXPECT_FALSE(parse_cpu_times("cpu  1 -2 3 4\n", 100).has_value());
  EXPECT_FALSE(parse_cpu_times("cpu  1 2 3 99999999999999999999\n", 100).has_value());
  EXPECT_FALSE(parse_cpu_times("cpu  1 2 3 4\n", 0).has_value());
  EXPECT_FALSE(parse_cpu_times("", 100).has_value());
  EXPECT_FALSE(parse_cpu_times(std::string_view("\0\0\0", 3), 100).has_value());
  // A large machine's uptime does not overflow: 1e12 ticks = 1e16 us.
  EXPECT_EQ(parse_cpu_times("cpu  0 0 0 1000000000000\n", 100).value().total,
            CpuTime(10'000'000'000'000'000));
}

TEST(ParseOnlineCpus, CountsOnlyNumberedLines) {
  EXPECT_EQ(parse_online_cpus("cpu  1 2 3 4\ncpu0 1\ncpu7 1\ncpufreq 3\n").value(), 2);
  EXPECT_FALSE(parse_online_cpus("cpu  1 2 3 4\n").has_value());
}

TEST(ParseMeminfo, FallsBackToMemFreeAndRejectsGarbage) {
  const auto old = parse_meminfo("MemTotal: 100 kB\nMemFree: 40 kB\n").value();
  EXPECT_EQ(old.total_bytes, 102400);
  EXPECT_EQ(old.available_bytes, 40960);
  EXPECT_FALSE(parse_meminfo("MemTotal: 100 MB\nMemFree: 40 kB\n").has_value());
  EXPECT_FALSE(parse_meminfo("MemTotal: x kB\n").has_value());
  EXPECT_FALSE(parse_meminfo("MemAvailable: 4 kB\n").has_value());
  EXPECT_FALSE(parse_meminfo("MemTotal: 9223372036854775807 kB\nMemFree: 1 kB\n").has_value());
  EXPECT_FALSE(parse_meminfo("").has_value());
}

TEST(ParseCpuModel, ExactKeysOnly) {
  // x86 has "cpu family" and "cpu MHz" lines before the model name; neither is the model.
  EXPECT_EQ(parse_cpu_model("cpu family\t: 25\ncpu MHz\t\t: 2596.150\nmodel name\t: AMD EPYC\n"),
            "AMD EPYC");
  EXPECT_EQ(parse_cpu_model("processor : 0\ncpu : POWER9, altivec supported\n"),
            "POWER9, altivec supported");
  // arm64 names no model in /proc/cpuinfo.
  EXPECT_EQ(parse_cpu_model("processor : 0\nBogoMIPS : 50.00\nCPU implementer : 0x41\n"), "");
  EXPECT_EQ(parse_cpu_model("no colon at all\n:\n"), "");
}

}  // namespace
}  // namespace jobcarbon::os
