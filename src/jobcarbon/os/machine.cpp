#include <jobcarbon/os/machine.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <optional>
#include <utility>

#include <unistd.h>

#include <jobcarbon/os/file.hpp>

namespace jobcarbon::os {

namespace {

// Call f(line) for each line of text (without the newline).
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    const auto nl = text.find('\n');
    f(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

// Return the first whitespace-separated word of s and remove it from s.
std::string_view next_word(std::string_view& s) {
  const auto start = s.find_first_not_of(" \t");
  if (start == std::string_view::npos) {
    s = {};
    return {};
  }
  s.remove_prefix(start);
  const auto end = std::min(s.find_first_of(" \t"), s.size());
  const std::string_view word = s.substr(0, end);
  s.remove_prefix(end);
  return word;
}

std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty() || v < 0) return std::nullopt;
  return v;
}

// Return ticks as microseconds, or nullopt when that overflows.
std::optional<CpuTime> ticks_to_cpu_time(std::int64_t ticks, long ticks_per_second) {
  const Int128 us = static_cast<Int128>(ticks) * 1'000'000 / ticks_per_second;
  if (us > LLONG_MAX) return std::nullopt;
  return CpuTime(static_cast<std::int64_t>(us));
}

std::string error_of(const std::filesystem::path& file, const std::string& what) {
  return file.string() + ": " + what;
}

}  // namespace

std::expected<int, std::string> parse_online_cpus(std::string_view proc_stat) {
  int count = 0;
  for_each_line(proc_stat, [&](std::string_view line) {
    // "cpu0 ..." counts, the aggregate "cpu ..." does not.
    if (line.size() > 3 && line.starts_with("cpu") && line[3] >= '0' && line[3] <= '9') ++count;
  });
  if (count == 0) return std::unexpected(std::string("no cpuN line"));
  return count;
}

std::expected<CpuTimes, std::string> parse_cpu_times(std::string_view proc_stat,
                                                     long ticks_per_second) {
  if (ticks_per_second <= 0) return std::unexpected(std::string("bad clock tick rate"));
  std::optional<std::string_view> cpu_line;
  for_each_line(proc_stat, [&](std::string_view line) {
    if (!cpu_line && line.starts_with("cpu ")) cpu_line = line;
  });
  if (!cpu_line) return std::unexpected(std::string("no aggregate 'cpu' line"));
  // user nice system idle iowait irq softirq steal guest guest_nice; kernels before 2.6.11 stop
  // after irq/softirq, so at least the first four must be there. guest and guest_nice are
  // already counted in user and nice, so they are not added again.
  std::array<std::int64_t, 8> v{};
  std::string_view rest = cpu_line->substr(4);
  std::size_t n = 0;
  for (; n < v.size(); ++n) {
    const std::string_view word = next_word(rest);
    if (word.empty()) break;
    const auto value = to_int(word);
    if (!value) {
      return std::unexpected("not a number in the 'cpu' line: '" + std::string(word) + "'");
    }
    v[n] = *value;
  }
  if (n < 4) return std::unexpected(std::string("the 'cpu' line has fewer than 4 fields"));
  std::int64_t total = 0;
  for (const std::int64_t x : v) {
    if (x > LLONG_MAX / 16) return std::unexpected(std::string("value out of range"));
    total += x;
  }
  const std::int64_t idle = v[3] + v[4];
  const auto busy_time = ticks_to_cpu_time(total - idle, ticks_per_second);
  const auto total_time = ticks_to_cpu_time(total, ticks_per_second);
  if (!busy_time || !total_time) return std::unexpected(std::string("value out of range"));
  return CpuTimes{*busy_time, *total_time};
}

std::expected<MemoryInfo, std::string> parse_meminfo(std::string_view meminfo) {
  std::optional<std::int64_t> total, available, free;
  std::string bad;
  for_each_line(meminfo, [&](std::string_view line) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return;
    const std::string_view key = line.substr(0, colon);
    std::optional<std::int64_t>* slot = key == "MemTotal"       ? &total
                                        : key == "MemAvailable" ? &available
                                        : key == "MemFree"      ? &free
                                                                : nullptr;
    if (slot == nullptr) return;
    std::string_view rest = line.substr(colon + 1);
    const auto value = to_int(next_word(rest));
    const std::string_view unit = next_word(rest);
    if (!value || (unit != "kB" && !unit.empty()) || *value > LLONG_MAX / 1024) {
      bad = std::string(line);
      return;
    }
    *slot = *value * (unit.empty() ? 1 : 1024);
  });
  if (!bad.empty()) return std::unexpected("bad line: '" + bad + "'");
  if (!total) return std::unexpected(std::string("no MemTotal line"));
  if (!available && !free) return std::unexpected(std::string("no MemAvailable or MemFree line"));
  return MemoryInfo{*total, available ? *available : *free};
}

std::string parse_cpu_model(std::string_view cpuinfo) {
  std::string_view model_name, cpu;
  for_each_line(cpuinfo, [&](std::string_view line) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return;
    const std::string_view key = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    // Exact keys: x86 also has "cpu family", "cpu MHz", "cpu cores", which are not the model.
    if (key == "model name" && model_name.empty()) model_name = value;
    if (key == "cpu" && cpu.empty()) cpu = value;
  });
  return std::string(!model_name.empty() ? model_name : cpu);
}

Machine::Machine(std::filesystem::path proc_root)
    : proc_root_(std::move(proc_root)), ticks_per_second_(::sysconf(_SC_CLK_TCK)) {}

std::expected<int, std::string> Machine::online_cpus() const {
  const auto file = proc_root_ / "stat";
  const auto text = read_file(file);
  if (!text) return std::unexpected(text.error().message);
  auto n = parse_online_cpus(*text);
  if (!n) return std::unexpected(error_of(file, n.error()));
  return n;
}

std::expected<CpuTimes, std::string> Machine::cpu_times() const {
  const auto file = proc_root_ / "stat";
  const auto text = read_file(file);
  if (!text) return std::unexpected(text.error().message);
  auto times = parse_cpu_times(*text, ticks_per_second_);
  if (!times) return std::unexpected(error_of(file, times.error()));
  return times;
}

std::expected<MemoryInfo, std::string> Machine::memory() const {
  const auto file = proc_root_ / "meminfo";
  const auto text = read_file(file);
  if (!text) return std::unexpected(text.error().message);
  auto mem = parse_meminfo(*text);
  if (!mem) return std::unexpected(error_of(file, mem.error()));
  return mem;
}

std::string Machine::cpu_model() const {
  const auto text = read_file(proc_root_ / "cpuinfo");
  return text ? parse_cpu_model(*text) : std::string();
}

std::string Machine::hostname() const {
  if (auto name = read_line(proc_root_ / "sys" / "kernel" / "hostname"); name && !name->empty()) {
    return *name;
  }
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

}  // namespace jobcarbon::os
