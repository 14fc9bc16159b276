#include <jobcarbon/sensors/estimator_sensor.hpp>

#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

namespace jobcarbon::sensors {
namespace {

using namespace std::chrono_literals;

class EstimatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("jobcarbon-est-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // busy_ticks of user time, idle_ticks idle, in /proc/stat clock ticks (sysconf(_SC_CLK_TCK)).
  void write_stat(long busy_ticks, long idle_ticks) {
    std::ofstream(root_ / "stat") << "cpu  " << busy_ticks << " 0 0 " << idle_ticks
                                  << " 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n";
  }
  void write_meminfo(long total_kb, long available_kb) {
    std::ofstream(root_ / "meminfo")
        << "MemTotal:       " << total_kb
        << " kB\nMemFree:          1000 kB\nMemAvailable:   " << available_kb << " kB\n";
  }
  std::filesystem::path root_;
};

TEST_F(EstimatorTest, CpuCounterIsBusyTimeTimesWattsPerCore) {
  const long hz = ::sysconf(_SC_CLK_TCK);
  write_stat(10 * hz, 100 * hz);
  write_meminfo(8'000'000, 8'000'000);
  os::FakeClock clock;
  auto p = probe_estimator(os::Machine(root_), {true, false, 12.5, "test"}, clock);
  ASSERT_TRUE(p.sensor) << p.unavailable_reason;
  ASSERT_EQ(p.sensor->channels().size(), 1u);
  EXPECT_EQ(p.sensor->channels()[0].domain, Domain::kEstimatedCpu);
  std::vector<Reading> r;
  p.sensor->read(r);
  ASSERT_TRUE(r[0]);
  const auto first = *r[0];
  write_stat(14 * hz, 100 * hz);  // 4 more busy CPU-seconds
  p.sensor->read(r);
  EXPECT_EQ(*r[0] - first, 50'000'000);  // 4 s × 12.5 W = 50 J
}

TEST_F(EstimatorTest, MemoryIsIntegratedOverTime) {
  write_stat(1, 1);
  write_meminfo(10'000'000, 6'000'000);  // 4e9 bytes in use = 4 GB
  os::FakeClock clock;
  auto p = probe_estimator(os::Machine(root_), {false, true, 0, ""}, clock);
  ASSERT_TRUE(p.sensor) << p.unavailable_reason;
  std::vector<Reading> r;
  p.sensor->read(r);
  EXPECT_EQ(*r[0], 0);
  clock.advance(10s);
  p.sensor->read(r);
  // 4.096 GB (kB are 1024 bytes) × 0.3725 W/GB × 10 s = 15.2576 J
  EXPECT_EQ(*r[0], 15'257'600);
}

TEST_F(EstimatorTest, UnreadableProcIsUnavailableOrAnErrorReading) {
  os::FakeClock clock;
  auto p = probe_estimator(os::Machine(root_ / "missing"), {true, true, 10, ""}, clock);
  EXPECT_FALSE(p.sensor);
  EXPECT_NE(p.unavailable_reason.find("CPU time"), std::string::npos) << p.unavailable_reason;

  write_stat(1, 1);
  auto q = probe_estimator(os::Machine(root_), {true, true, 10, ""}, clock);
  ASSERT_TRUE(q.sensor);
  std::vector<Reading> r;
  q.sensor->read(r);
  EXPECT_TRUE(r[0]);
  EXPECT_FALSE(r[1]);  // no meminfo: an error reading, not a crash
}

TEST_F(EstimatorTest, NotNeededWhenHardwareCoversEverything) {
  os::FakeClock clock;
  auto p = probe_estimator(os::Machine(root_), {false, false, 10, ""}, clock);
  EXPECT_FALSE(p.sensor);
}

}  // namespace
}  // namespace jobcarbon::sensors
