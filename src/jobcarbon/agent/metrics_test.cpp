#include <jobcarbon/agent/metrics.hpp>
#include <jobcarbon/testing/ci.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

namespace jobcarbon::agent {
namespace {

using namespace std::chrono_literals;
using sensors::Domain;

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << p;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The node of the golden file: 2 sockets, 2 GPUs (one with a label full of characters to
// escape), a board sensor that is down, 2 running jobs. Values chosen so that each formatting
// rule shows: 17-digit µJ, 1 µJ, whole joules, a power not yet known, ns read durations.
MetricsSnapshot golden_snapshot() {
  MetricsSnapshot s;
  s.channels = {
      {"rapl", "rapl:intel-rapl:0", Domain::kCpuPackage, "package-0",
       Microjoules(12345678901234567), Microwatts(215'500'000)},
      {"rapl", "rapl:intel-rapl:1", Domain::kCpuPackage, "package-1", Microjoules(1), std::nullopt},
      {"nvml", "nvml:GPU-6d0e1a2b", Domain::kGpu, "NVIDIA H100 80GB HBM3 (GPU 0)",
       Microjoules(3'600'000'000), Microwatts(700'000'000)},
      {"nvml", "nvml:GPU-77aa", Domain::kGpu, "Tesla \"V100\" C:\\gpu\nrack 2",
       Microjoules(1'500'000), Microwatts(1)},
      {"hwmon", "hwmon:hwmon3/energy1", Domain::kNode, "System", Microjoules(0), std::nullopt},
  };
  s.jobs = {
      {"gpu-cluster", "4242", "batch", "alice", "ml-lab", Microjoules(2'500'000'000'000),
       KgCo2{0.125}},
      {"gpu-cluster", "4243", "0", "d\\o\"e", "line1\nline2", Microjoules(999'999),
       KgCo2{0.000123}},
  };
  s.sensors = {
      {"rapl", true, 153us, 0},
      {"nvml", true, 2500us, 0},
      {"hwmon", false, 1s + 7ns, 17},
  };
  s.process = {12340ms, 7'340'032};
  s.unallocated = {{Domain::kCpuPackage, Microjoules(400'000'000)}, {Domain::kGpu, Microjoules(0)}};
  s.idle = {{Domain::kCpuPackage, Microjoules(250'000'000)}, {Domain::kGpu, Microjoules(12)}};
  return s;
}

const std::filesystem::path kGolden =
    std::filesystem::path(JOBCARBON_SOURCE_DIR) / "tests/fixtures/metrics/node.prom";

TEST(RenderMetrics, MatchesHandCheckedGoldenFile) {
  const std::string rendered = render_metrics(golden_snapshot());
  // To inspect a difference: the rendered text is printed in full by EXPECT_EQ.
  EXPECT_EQ(rendered, read_text(kGolden));
}

TEST(RenderMetrics, EmptySnapshotKeepsEveryFamilyAndOnlyProcessSamples) {
  const std::string rendered = render_metrics(MetricsSnapshot{});
  for (const char* name :
       {"jobcarbon_node_energy_joules_total", "jobcarbon_node_power_watts",
        "jobcarbon_node_unallocated_energy_joules_total", "jobcarbon_node_idle_energy_joules_total",
        "jobcarbon_job_energy_joules_total", "jobcarbon_job_co2_grams_total", "jobcarbon_sensor_up",
        "jobcarbon_sensor_read_duration_seconds", "jobcarbon_sensor_read_errors_total",
        "process_cpu_seconds_total", "process_resident_memory_bytes"}) {
    EXPECT_NE(rendered.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  }
  EXPECT_EQ(rendered.find("jobcarbon_job_energy_joules_total{"), std::string::npos);
  EXPECT_NE(rendered.find("\nprocess_cpu_seconds_total 0\n"), std::string::npos);
  EXPECT_NE(rendered.find("\nprocess_resident_memory_bytes 0\n"), std::string::npos);
}

TEST(RenderMetrics, FinishedJobLeavesTheExposition) {
  MetricsSnapshot s = golden_snapshot();
  s.jobs.erase(s.jobs.begin());  // job 4242 ended
  const std::string rendered = render_metrics(s);
  EXPECT_EQ(rendered.find("job_id=\"4242\""), std::string::npos);
  EXPECT_NE(rendered.find("job_id=\"4243\""), std::string::npos);
}

TEST(ExactDecimal, MicrojoulesToJoulesWithoutLoss) {
  EXPECT_EQ(exact_decimal(1, 6), "0.000001");
  EXPECT_EQ(exact_decimal(12345678901234567, 6), "12345678901.234567");
  EXPECT_EQ(exact_decimal(0, 6), "0");
  EXPECT_EQ(exact_decimal(1'000'000, 6), "1");
  EXPECT_EQ(exact_decimal(1'500'000, 6), "1.5");
  EXPECT_EQ(exact_decimal(999'999, 6), "0.999999");
  EXPECT_EQ(exact_decimal(1'000'010, 6), "1.00001");
  // The largest counter: a double would print 9223372036854.775 or worse.
  EXPECT_EQ(exact_decimal(std::numeric_limits<std::int64_t>::max(), 6), "9223372036854.775807");
  EXPECT_EQ(exact_decimal(std::numeric_limits<std::int64_t>::min(), 6), "-9223372036854.775808");
  EXPECT_EQ(exact_decimal(-5, 1), "-0.5");
  EXPECT_EQ(exact_decimal(-1'000'000, 6), "-1");
  EXPECT_EQ(exact_decimal(42, 0), "42");
  EXPECT_EQ(exact_decimal(1'000'000'007, 9), "1.000000007");  // nanoseconds → seconds
  EXPECT_EQ(exact_decimal(1, 18), "0.000000000000000001");
}

TEST(ExactDecimal, RejectsScalesOutsideInt64) {
  EXPECT_THROW(exact_decimal(1, -1), std::invalid_argument);
  EXPECT_THROW(exact_decimal(1, 19), std::invalid_argument);
}

TEST(EscapeLabelValue, EscapesBackslashQuoteAndNewlineOnly) {
  EXPECT_EQ(escape_label_value("plain"), "plain");
  EXPECT_EQ(escape_label_value("a\\b"), "a\\\\b");
  EXPECT_EQ(escape_label_value("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(escape_label_value("l1\nl2"), "l1\\nl2");
  EXPECT_EQ(escape_label_value("\\n"), "\\\\n");  // a literal backslash-n stays two characters
  EXPECT_EQ(escape_label_value("tab\there é"), "tab\there é");
  EXPECT_EQ(escape_label_value(""), "");
}

TEST(RenderMetrics, Co2IsInGramsWithoutArithmeticNoise) {
  MetricsSnapshot s;
  s.jobs = {{"c", "1", "", "u", "a", Microjoules(0), KgCo2{0.000123}}};
  // 0.000123 × 1000 is 0.12300000000000001 as a double.
  EXPECT_NE(render_metrics(s).find("account=\"a\"} 0.123\n"), std::string::npos)
      << render_metrics(s);
}

// Return promtool's path from PATH, or "" when it is not installed.
std::string find_promtool() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const auto candidate = std::filesystem::path(dir) / "promtool";
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

// Run `promtool check metrics < file` and return its exit status and output.
std::pair<int, std::string> promtool_check(const std::string& promtool,
                                           const std::string& exposition) {
  testing::TempDir dir("jobcarbon-metrics-");
  const auto input = dir / "metrics.prom";
  testing::write_file(input, exposition);
  const std::string command = "'" + promtool + "' check metrics < '" + input.string() + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(RenderMetrics, RealPromtoolAcceptsTheExposition) {
  const std::string promtool = find_promtool();
  if (promtool.empty()) {
    if (jobcarbon::testing::in_ci())
      FAIL() << "promtool not on PATH (CI=true): scripts/install-deps.sh --test";
    GTEST_SKIP() << "promtool not on PATH: install it with scripts/install-deps.sh --test";
  }
  for (const auto& snapshot : {golden_snapshot(), MetricsSnapshot{}}) {
    const auto [code, output] = promtool_check(promtool, render_metrics(snapshot));
    EXPECT_EQ(code, 0) << output;
    EXPECT_EQ(output, "") << "promtool printed lint findings";
  }
}

TEST(RenderMetrics, RealPromtoolRejectsABrokenExposition) {
  // Proves the check above can fail: promtool does judge what it is given.
  const std::string promtool = find_promtool();
  if (promtool.empty()) {
    if (jobcarbon::testing::in_ci())
      FAIL() << "promtool not on PATH (CI=true): scripts/install-deps.sh --test";
    GTEST_SKIP() << "promtool not on PATH: install it with scripts/install-deps.sh --test";
  }
  const auto [code, output] =
      promtool_check(promtool, "# TYPE x_total counter\nx_total{a=\"unterminated} 1\n");
  EXPECT_NE(code, 0) << output;
}

}  // namespace
}  // namespace jobcarbon::agent
