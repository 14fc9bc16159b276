// The raw cost of the reads behind one agent tick: the floor that bench/agent_bench.sh compares
// jobcarbond's CPU time against. Self-contained on purpose (standard library, POSIX and dlopen
// only): it shares no code with the agent, so a cost that the agent's own layers add cannot hide
// in the baseline.
//
// One iteration = what the agent must read at one counter boundary, nothing else:
//   - every file named in --keep FILE (one path per line): opened once, then one pread per
//     iteration (as a careful sampler does for sysfs counters: RAPL energy_uj, hwmon *_input);
//   - every file named in --open FILE: open + read + close per iteration (cgroup cpu.stat and
//     memory.current, /proc files: their directories may disappear between two reads);
//   - --gpus N calls of nvmlDeviceGetTotalEnergyConsumption through dlopen(--nvml LIB) (the fake
//     NVML reads FAKE_NVML_SCENARIO, exactly as the agent's does).
// Prints one line of key=value: iterations, CPU ns per iteration (CLOCK_PROCESS_CPUTIME_ID) and
// wall ns per iteration, and a checksum so that no read can be elided.
//
// Usage: agent_raw_reads [--iterations N] [--keep FILE] [--open FILE] [--nvml LIB --gpus N]
#include <dlfcn.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

using NvmlReturn = int;
using NvmlDevice = void*;

std::vector<std::string> lines_of(const std::string& list) {
  std::vector<std::string> out;
  std::ifstream in(list);
  if (!in) {
    std::fprintf(stderr, "agent_raw_reads: cannot read %s\n", list.c_str());
    std::exit(1);
  }
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

long long now_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

// The leading integer of buf (a counter file, or the first number of cpu.stat): enough to keep
// the read from being optimised away and to make the checksum depend on the content.
long long leading_number(const char* buf) {
  while (*buf && (*buf < '0' || *buf > '9')) ++buf;
  return std::strtoll(buf, nullptr, 10);
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 1000;
  std::string keep_list, open_list, nvml_lib;
  unsigned gpus = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "agent_raw_reads: %s needs a value\n", a.c_str());
      return 2;
    }
    const std::string v = argv[++i];
    if (a == "--iterations") {
      iterations = std::atol(v.c_str());
    } else if (a == "--keep") {
      keep_list = v;
    } else if (a == "--open") {
      open_list = v;
    } else if (a == "--nvml") {
      nvml_lib = v;
    } else if (a == "--gpus") {
      gpus = static_cast<unsigned>(std::atoi(v.c_str()));
    } else {
      std::fprintf(stderr, "agent_raw_reads: unknown argument %s\n", a.c_str());
      return 2;
    }
  }

  std::vector<int> kept;
  if (!keep_list.empty()) {
    for (const auto& p : lines_of(keep_list)) {
      const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        std::fprintf(stderr, "agent_raw_reads: open %s: %s\n", p.c_str(), std::strerror(errno));
        return 1;
      }
      kept.push_back(fd);
    }
  }
  const std::vector<std::string> opened =
      open_list.empty() ? std::vector<std::string>{} : lines_of(open_list);

  NvmlReturn (*energy)(NvmlDevice, unsigned long long*) = nullptr;
  std::vector<NvmlDevice> devices;
  if (gpus > 0) {
    void* lib = ::dlopen(nvml_lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      std::fprintf(stderr, "agent_raw_reads: dlopen %s: %s\n", nvml_lib.c_str(), ::dlerror());
      return 1;
    }
    auto init = reinterpret_cast<NvmlReturn (*)()>(::dlsym(lib, "nvmlInit_v2"));
    auto handle = reinterpret_cast<NvmlReturn (*)(unsigned, NvmlDevice*)>(
        ::dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"));
    energy = reinterpret_cast<NvmlReturn (*)(NvmlDevice, unsigned long long*)>(
        ::dlsym(lib, "nvmlDeviceGetTotalEnergyConsumption"));
    if (!init || !handle || !energy || init() != 0) {
      std::fprintf(stderr, "agent_raw_reads: NVML symbols missing or nvmlInit_v2 failed\n");
      return 1;
    }
    for (unsigned g = 0; g < gpus; ++g) {
      NvmlDevice d = nullptr;
      if (handle(g, &d) != 0) {
        std::fprintf(stderr, "agent_raw_reads: no GPU %u\n", g);
        return 1;
      }
      devices.push_back(d);
    }
  }

  long long checksum = 0;
  char buf[4096];
  const long long cpu0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
  const long long wall0 = now_ns(CLOCK_MONOTONIC);
  for (long it = 0; it < iterations; ++it) {
    for (const int fd : kept) {
      const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      if (n < 0) return 1;
      buf[n] = '\0';
      checksum += leading_number(buf);
    }
    for (const auto& p : opened) {
      const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return 1;
      const ssize_t n = ::read(fd, buf, sizeof buf - 1);
      ::close(fd);
      if (n < 0) return 1;
      buf[n] = '\0';
      checksum += leading_number(buf);
    }
    for (const auto d : devices) {
      unsigned long long mj = 0;
      if (energy(d, &mj) != 0) return 1;
      checksum += static_cast<long long>(mj);
    }
  }
  const long long cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
  const long long wall = now_ns(CLOCK_MONOTONIC) - wall0;
  std::printf(
      "iterations=%ld kept_files=%zu opened_files=%zu gpus=%zu cpu_ns_per_iter=%.0f "
      "wall_ns_per_iter=%.0f checksum=%lld\n",
      iterations, kept.size(), opened.size(), devices.size(),
      static_cast<double>(cpu) / static_cast<double>(iterations),
      static_cast<double>(wall) / static_cast<double>(iterations), checksum);
  return 0;
}
