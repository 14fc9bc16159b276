// Benchmark: the CPU cost of metering on a fixture machine with 2 sockets (RAPL package + DRAM),
// 8 GPUs (the fake NVML) and a POWER9 node meter (hwmon), compared in the same run with the bare
// reads behind the same channels. Prints Google Benchmark's table, then a derived table: CPU
// seconds per minute at 10 Hz (600 × the CPU time of one call) and the share of one core
// (target: under 0.1 % for a whole interval of `jobcarbon run`).
//
// Usage: meter_bench [Google Benchmark flags], e.g. --benchmark_repetitions=5 (the derived table
// then uses the median) or --benchmark_min_time=0.01 (smoke mode).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <jobcarbon/attribution/attributor.hpp>
#include <jobcarbon/energy/meter.hpp>
#include <jobcarbon/os/clock.hpp>
#include <jobcarbon/os/machine.hpp>
#include <jobcarbon/os/process_tree.hpp>
#include <jobcarbon/sensors/registry.hpp>

#include "fixture_machine.hpp"

extern char** environ;

namespace {

using namespace jobcarbon;

// Two idle children, so the process tree has members as a training job's launcher and worker
// would; killed and reaped by the destructor.
class IdleChildren {
 public:
  IdleChildren() {
    for (int i = 0; i < 2; ++i) {
      char sleep[] = "sleep";
      char seconds[] = "300";
      char* argv[] = {sleep, seconds, nullptr};
      pid_t pid = 0;
      if (::posix_spawnp(&pid, "sleep", nullptr, nullptr, argv, environ) == 0) pids_.push_back(pid);
    }
  }
  IdleChildren(const IdleChildren&) = delete;
  IdleChildren& operator=(const IdleChildren&) = delete;
  ~IdleChildren() {
    for (const pid_t pid : pids_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  std::size_t count() const { return pids_.size(); }

 private:
  std::vector<pid_t> pids_;
};

// Prints like the console reporter and keeps each benchmark's CPU seconds per call: the median
// when repetitions were asked for, else the single run.
class RecordingReporter final : public benchmark::ConsoleReporter {
 public:
  // Colours only on a terminal: logs and CTest output stay plain text.
  RecordingReporter() : ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      if (r.error_occurred) continue;
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      const std::string& name = r.run_name.function_name;
      if (!median && (r.run_type != Run::RT_Iteration || from_median_.contains(name))) continue;
      cpu_seconds_[name] = r.GetAdjustedCPUTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
      if (median) from_median_[name] = true;
    }
  }
  // Return the CPU seconds of one call, or a negative value when the benchmark did not run.
  double cpu_seconds(const std::string& name) const {
    const auto it = cpu_seconds_.find(name);
    return it == cpu_seconds_.end() ? -1 : it->second;
  }

 private:
  std::map<std::string, double> cpu_seconds_;
  std::map<std::string, bool> from_median_;
};

int count_processes() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const auto name = e.path().filename().string();
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) ++n;
  }
  return n;
}

void print_derived(const RecordingReporter& rep, std::size_t channels) {
  std::printf("\nderived: cost of metering at 10 Hz (600 calls a minute), CPU time per call\n");
  std::printf("%-30s %14s %18s %15s\n", "benchmark", "CPU us/call", "CPU s/min @10Hz",
              "% of one core");
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"meter_sample", fmt::format("meter_sample ({} ch)", channels)},
      {"raw_reads", "raw_reads (same channels)"},
      {"raw_sysfs_reads", "raw_sysfs_reads"},
      {"raw_nvml_calls", "raw_nvml_calls"},
      {"process_tree_sample", "process_tree_sample"},
      {"machine_usage", "machine_usage"},
      {"run_loop_interval", "run_loop_interval (all)"},
      {"meter_sample_paced", "meter_sample_paced"},
      {"raw_reads_paced", "raw_reads_paced"},
      {"process_tree_sample_paced", "process_tree_sample_paced"},
      {"machine_usage_paced", "machine_usage_paced"},
      {"run_loop_interval_paced", "run_loop_interval_paced"},
  };
  for (const auto& [key, label] : rows) {
    const double t = rep.cpu_seconds(key);
    if (t < 0) {
      std::printf("%-30s %14s\n", label.c_str(), "not run");
      continue;
    }
    // 10 calls a second: t × 10 of every second is spent, i.e. 1000 × t percent of one core.
    std::printf("%-30s %14.2f %18.5f %14.4f%%\n", label.c_str(), t * 1e6, 600 * t, 1000 * t);
  }
  const double sample = rep.cpu_seconds("meter_sample");
  const double raw = rep.cpu_seconds("raw_reads");
  if (sample > 0 && raw > 0) {
    std::printf("meter_sample over raw_reads: %.2fx (%+.2f us per sample)\n", sample / raw,
                (sample - raw) * 1e6);
  }
  const double sample_paced = rep.cpu_seconds("meter_sample_paced");
  const double raw_paced = rep.cpu_seconds("raw_reads_paced");
  if (sample_paced > 0 && raw_paced > 0) {
    std::printf("meter_sample_paced over raw_reads_paced: %.2fx (%+.2f us per sample)\n",
                sample_paced / raw_paced, (sample_paced - raw_paced) * 1e6);
  }
  // The paced figures are what `jobcarbon run` pays: it sleeps between intervals. At 10 Hz it
  // samples the meter ten times a second and attributes (process tree, /proc/stat, the split)
  // once a second (cli/metered_run.cpp): 10 × meter + 1 × (whole interval − meter) per second.
  const double loop = rep.cpu_seconds("run_loop_interval_paced");
  if (loop > 0 && sample_paced > 0) {
    const double per_second = 10 * sample_paced + (loop - sample_paced);
    std::printf("jobcarbon run at 10 Hz (10 meter samples + 1 attribution a second): %.1f us/s\n",
                per_second * 1e6);
    std::printf("target: under 0.1%% of one core at 10 Hz: %s (%.4f%%)\n",
                100 * per_second < 0.1 ? "met" : "NOT met", 100 * per_second);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  try {
    bench::FixtureMachine machine_fixture(JOBCARBON_SOURCE_DIR, JOBCARBON_BINARY_DIR);
    const sensors::SensorPaths& paths = machine_fixture.paths();
    const os::SystemClock clock;

    auto discovery = sensors::discover_sensors(paths, sensors::EstimatorOptions{}, clock);
    for (const auto& p : discovery.probes) {
      std::printf("sensor %-9s %s\n", p.name.c_str(),
                  p.sensor ? fmt::format("{} channels", p.sensor->channels().size()).c_str()
                           : ("unavailable: " + p.unavailable_reason).c_str());
    }
    energy::Meter meter(sensors::take_sensors(discovery.probes), clock);
    const bench::RawReads raw(meter.channels(), paths);
    std::printf("raw reads: %zu sysfs files + %zu NVML energy calls; meter channels: %zu\n",
                raw.file_count(), raw.gpu_count(), meter.channels().size());
    if (raw.gpu_count() != 8) throw std::runtime_error("expected 8 GPUs from the fake NVML");
    meter.start();

    const IdleChildren children;
    os::ProcessTree tree;  // this process and its children, as `jobcarbon run` scans its own tree
    const os::Machine machine;
    const attribution::Attributor attributor(meter.channels());
    std::vector<attribution::JobUsage> jobs(1);
    jobs[0].gpus = {discovery.gpus.at(0).uuid, discovery.gpus.at(1).uuid};
    attribution::Attribution split;
    auto last_busy = machine.cpu_times();
    const int cpus = std::max(1, machine.online_cpus().value_or(1));
    std::printf("process tree: %zu idle children; processes on this machine: %d\n",
                children.count(), count_processes());

    using benchmark::State;
    const auto us = benchmark::kMicrosecond;
    benchmark::RegisterBenchmark("meter_sample", [&](State& s) {
      for (auto _ : s) benchmark::DoNotOptimize(meter.sample());
    })->Unit(us);
    benchmark::RegisterBenchmark("raw_reads", [&](State& s) {
      for (auto _ : s) benchmark::DoNotOptimize(raw.read_files() + raw.read_gpus());
    })->Unit(us);
    benchmark::RegisterBenchmark("raw_sysfs_reads", [&](State& s) {
      for (auto _ : s) benchmark::DoNotOptimize(raw.read_files());
    })->Unit(us);
    benchmark::RegisterBenchmark("raw_nvml_calls", [&](State& s) {
      for (auto _ : s) benchmark::DoNotOptimize(raw.read_gpus());
    })->Unit(us);
    benchmark::RegisterBenchmark("process_tree_sample", [&](State& s) {
      for (auto _ : s) {
        auto u = tree.sample();
        if (!u) s.SkipWithError(u.error().c_str());
        benchmark::DoNotOptimize(u);
      }
    })->Unit(us);
    // The machine-wide reads the run loop makes each interval (/proc/stat, /proc/meminfo).
    benchmark::RegisterBenchmark("machine_usage", [&](State& s) {
      for (auto _ : s) {
        benchmark::DoNotOptimize(machine.cpu_times());
        benchmark::DoNotOptimize(machine.memory());
      }
    })->Unit(us);
    // One interval of `jobcarbon run` as cli/metered_run.cpp takes it (without the live line,
    // which is drawn at most once a second and only on a terminal).
    auto one_interval = [&] {
      const auto& iv = meter.sample();
      const auto usage = tree.sample();
      jobs[0].cpu_time = Duration(0);
      jobs[0].rss_bytes = usage ? usage->rss_bytes : 0;
      attribution::MachineUsage mu;
      mu.cpu_capacity = iv.length() * cpus;
      const auto busy = machine.cpu_times();
      if (busy && last_busy) mu.cpu_busy = busy->busy - last_busy->busy;
      if (busy) last_busy = busy;
      if (const auto mem = machine.memory()) {
        mu.mem_used_bytes = mem->total_bytes - mem->available_bytes;
      }
      attributor.attribute(iv, mu, jobs, split);
      benchmark::DoNotOptimize(split);
    };
    benchmark::RegisterBenchmark("run_loop_interval", [&](State& s) {
      for (auto _ : s) one_interval();
    })->Unit(us);
    // Paced variants: the process sleeps between calls as the run loop does, so each call
    // starts with cold caches and TLB, as in `jobcarbon run`. Only the call is timed.
    const auto paced = [](const char* name, auto fn) {
      benchmark::RegisterBenchmark(name,
                                   [fn](State& s) {
                                     for (auto _ : s) {
                                       s.PauseTiming();
                                       std::this_thread::sleep_for(std::chrono::milliseconds(10));
                                       s.ResumeTiming();
                                       fn();
                                     }
                                   })
          ->Unit(benchmark::kMicrosecond)
          ->Iterations(50);
    };
    paced("meter_sample_paced", [&] { benchmark::DoNotOptimize(meter.sample()); });
    paced("raw_reads_paced", [&] { benchmark::DoNotOptimize(raw.read_files() + raw.read_gpus()); });
    paced("process_tree_sample_paced", [&] { benchmark::DoNotOptimize(tree.sample()); });
    paced("machine_usage_paced", [&] {
      benchmark::DoNotOptimize(machine.cpu_times());
      benchmark::DoNotOptimize(machine.memory());
    });
    paced("run_loop_interval_paced", one_interval);

    RecordingReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    print_derived(reporter, meter.channels().size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "meter_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
