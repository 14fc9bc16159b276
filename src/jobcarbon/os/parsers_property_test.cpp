// Property tests of every parser of kernel text: whatever bytes /proc or /sys hand over (a
// truncated read, a new kernel's format, a fixture gone wrong), the parsers return a value or an
// error and never crash; and read_int64 accepts exactly the sysfs integer format.
#include <jobcarbon/os/file.hpp>
#include <jobcarbon/os/machine.hpp>
#include <jobcarbon/os/process_tree.hpp>

#include <fstream>
#include <random>

#include <unistd.h>

#include <gtest/gtest.h>

#include <jobcarbon/testing/mutate.hpp>

namespace jobcarbon::os {
namespace {

const std::string kStat =
    "cpu  4705 356 584 3699176 23 23 0 0 0 0\ncpu0 1393280 32966 572056 13343292 6130 0 17875 0 "
    "0 0\nintr 1\nctxt 2\n";
const std::string kMeminfo =
    "MemTotal:       16307588 kB\nMemFree:        1 kB\nMemAvailable:   "
    "8306060 kB\n";
const std::string kPidStat =
    "1234 (python3 (train) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 30 5 7 20 0 4 0 555 "
    "1000000 2560 18446744073709551615 1 1 0 0 0 0 0 16781312 0 0 0 17 1 0 0 0 0 0";

// Return TEXT with a few random bytes changed, inserted or removed, or cut short.
std::string mutate(const std::string& text, std::mt19937_64& rng) {
  return testing::mutate_bytes(text, rng, {}, 6);
}

TEST(ParsersProperty, MutatedKernelTextNeverCrashes) {
  std::mt19937_64 rng(20261127);
  int ok_stat = 0, ok_mem = 0, ok_pid = 0;
  for (int i = 0; i < 20000; ++i) {
    const auto stat = mutate(kStat, rng);
    const auto times = parse_cpu_times(stat, 100);
    if (times) {
      ++ok_stat;
      EXPECT_GE(times->total, times->busy);
    }
    (void)parse_online_cpus(stat);
    if (parse_meminfo(mutate(kMeminfo, rng))) ++ok_mem;
    (void)parse_cpu_model(mutate("model name\t: Intel(R) Xeon(R)\n", rng));
    if (const auto p = parse_proc_stat(mutate(kPidStat, rng))) {
      ++ok_pid;
      EXPECT_GE(p->utime, 0);
    }
  }
  // The mutations must leave both outcomes common, or the test proves nothing.
  EXPECT_GT(ok_stat, 1000);
  EXPECT_LT(ok_stat, 19000);
  EXPECT_GT(ok_mem, 1000);
  EXPECT_GT(ok_pid, 1000);
}

TEST(ParsersProperty, ReadInt64AcceptsExactlyTheSysfsIntegerFormat) {
  const auto path =
      std::filesystem::temp_directory_path() / ("jobcarbon-int-" + std::to_string(::getpid()));
  std::mt19937_64 rng(7);
  const std::string alphabet = "0123456789-+ \n\rx.e";
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const auto len = rng() % 12;
    for (std::size_t k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
    std::ofstream(path, std::ios::trunc) << s;
    const auto v = read_int64(path);
    // Expected: optional '-', 1–19 digits, then only spaces / newlines / CRs.
    std::size_t end = s.find_last_not_of(" \n\r");
    const std::string body = end == std::string::npos ? "" : s.substr(0, end + 1);
    const bool digits = !body.empty() &&
                        body.find_first_not_of("0123456789", body[0] == '-') == std::string::npos &&
                        body != "-";
    if (digits && body.size() < 19) {
      ASSERT_TRUE(v) << "'" << s << "'";
      EXPECT_EQ(*v, std::stoll(body));
    } else if (!digits) {
      EXPECT_FALSE(v) << "'" << s << "'";
    }
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace jobcarbon::os
