// What the machine is and how busy it is, read from a proc root (/proc or a fixture tree):
// online CPUs, aggregate CPU time, memory, CPU model, hostname. The parsers are pure functions
// so garbage input is tested directly; they return errors as values and never throw.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::os {

// Cumulative CPU time of all CPUs since boot (the "cpu" line of /proc/stat). Microseconds, not
// Duration's nanoseconds: 256 CPUs up for 2 years hold 1.6e19 ns, past int64. A difference of two
// readings converts to Duration implicitly and exactly.
using CpuTime = std::chrono::microseconds;
struct CpuTimes {
  CpuTime busy{0};   // total minus idle and iowait
  CpuTime total{0};  // user+nice+system+idle+iowait+irq+softirq+steal (guest is inside user)
};

// Memory of the machine in bytes (/proc/meminfo).
struct MemoryInfo {
  std::int64_t total_bytes = 0;      // MemTotal
  std::int64_t available_bytes = 0;  // MemAvailable (kernels >= 3.14), else MemFree
};

// Return the number of "cpuN" lines in /proc/stat text: the CPUs online now.
std::expected<int, std::string> parse_online_cpus(std::string_view proc_stat);

// Return the aggregate "cpu" line of /proc/stat text, its ticks converted with ticks_per_second.
std::expected<CpuTimes, std::string> parse_cpu_times(std::string_view proc_stat,
                                                     long ticks_per_second);

// Return MemTotal and MemAvailable of /proc/meminfo text (values in kB there).
std::expected<MemoryInfo, std::string> parse_meminfo(std::string_view meminfo);

// Return the CPU model of /proc/cpuinfo text: "model name" (x86), else "cpu" (POWER, e.g.
// "POWER9, altivec supported"), else "" (e.g. arm64, which names no model there).
std::string parse_cpu_model(std::string_view cpuinfo);

// The machine seen through one proc root. Each call reads its file again.
class Machine {
 public:
  explicit Machine(std::filesystem::path proc_root = "/proc");

  // Return the number of online CPUs, or an error naming the file.
  std::expected<int, std::string> online_cpus() const;
  // Return the cumulative CPU time of the machine, or an error naming the file.
  std::expected<CpuTimes, std::string> cpu_times() const;
  // Return the machine's memory, or an error naming the file.
  std::expected<MemoryInfo, std::string> memory() const;
  // Return the CPU model name, "" when unknown or unreadable.
  std::string cpu_model() const;
  // Return <proc>/sys/kernel/hostname, falling back to gethostname(); "" when both fail.
  std::string hostname() const;

 private:
  std::filesystem::path proc_root_;
  long ticks_per_second_;
};

}  // namespace jobcarbon::os
