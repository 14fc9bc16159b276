#include <jobcarbon/agent/cgroup_usage.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <limits>
#include <optional>
#include <system_error>
#include <vector>

#include <jobcarbon/os/file.hpp>

namespace jobcarbon::agent {
namespace fs = std::filesystem;

namespace {

std::unexpected<std::string> fail(const fs::path& path, std::string_view what) {
  return std::unexpected(path.string() + ": " + std::string(what));
}

// Return the text of a value for a message: cut short, so that a garbage file cannot flood the
// log, and with control and non-ASCII bytes as \xNN, so that it stays on one line.
std::string quoted(std::string_view s) {
  constexpr std::size_t kMax = 200;
  std::string out = "'";
  for (const char c : s.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      out += {'\\', 'x', kHex[u >> 4], kHex[u & 15]};
    }
  }
  if (s.size() > kMax) out += "...";
  return out + "'";
}

// Return the value of a string of decimal digits only, or nullopt (empty, sign, other bytes,
// overflow). from_chars alone would accept a leading '-'.
std::optional<std::int64_t> digits_value(std::string_view s) {
  if (s.empty() || s.front() < '0' || s.front() > '9') return std::nullopt;
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// Return ROOT/<cgroup> for a cgroup that passed check_cgroup_path ("/" is the root itself).
// Every leading '/' goes: path's operator/ with an absolute right side ("//etc" less one '/')
// would drop root altogether.
fs::path join(const fs::path& root, std::string_view cgroup) {
  while (cgroup.starts_with('/')) cgroup.remove_prefix(1);
  return cgroup.empty() ? root : root / fs::path(cgroup);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);  // follows symlinks: ROOT/cpuacct -> cpu,cpuacct
}

// Return the names of the subdirectories of dir (symlinks followed) for which keep(name) holds;
// an unreadable or missing dir has none.
template <typename Keep>
std::vector<std::string> subdirs(const fs::path& dir, Keep keep) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (keep(name) && is_dir(it->path())) out.push_back(name);
  }
  return out;
}

// Return the counter in path; a missing file gives nullopt (not an error) when optional.
std::expected<std::optional<std::int64_t>, std::string> read_counter(const fs::path& path,
                                                                     bool optional) {
  auto text = os::read_file(path);
  if (!text) {
    if (optional && text.error().errno_value == ENOENT) return std::nullopt;
    return std::unexpected(text.error().message);
  }
  auto v = parse_cgroup_counter(*text, path);
  if (!v) return std::unexpected(v.error());
  return *v;
}

}  // namespace

std::expected<void, std::string> check_cgroup_path(std::string_view cgroup) {
  if (cgroup.find('\0') != std::string_view::npos) {
    return std::unexpected("cgroup path contains a NUL byte");
  }
  if (cgroup.empty() || cgroup.front() != '/') {
    return std::unexpected("cgroup " + quoted(cgroup) +
                           ": must be an absolute path (start with '/')");
  }
  std::size_t start = 1;
  while (start <= cgroup.size()) {
    const auto end = std::min(cgroup.find('/', start), cgroup.size());
    if (cgroup.substr(start, end - start) == "..") {
      return std::unexpected("cgroup " + quoted(cgroup) + ": must not contain '..' components");
    }
    start = end + 1;
  }
  return {};
}

std::expected<Duration, std::string> parse_cpu_stat_usage(std::string_view text,
                                                          const fs::path& path) {
  constexpr std::string_view kKey = "usage_usec ";
  std::optional<std::string_view> value;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    // Other keys (user_usec, nr_throttled, new ones of later kernels) are not ours to judge.
    if (!line.starts_with(kKey)) continue;
    if (value) return fail(path, "more than one usage_usec line");
    value = line.substr(kKey.size());
  }
  if (!value) return fail(path, "no usage_usec line");
  const auto usec = digits_value(*value);
  if (!usec) return fail(path, "usage_usec is not a non-negative integer: " + quoted(*value));
  constexpr std::int64_t kMaxUsec = std::numeric_limits<Duration::rep>::max() / 1000;
  if (*usec > kMaxUsec) return fail(path, "usage_usec out of range: " + quoted(*value));
  return std::chrono::duration_cast<Duration>(std::chrono::microseconds(*usec));
}

std::expected<std::int64_t, std::string> parse_cgroup_counter(std::string_view text,
                                                              const fs::path& path) {
  std::string_view digits = text;
  if (digits.ends_with('\n')) digits.remove_suffix(1);
  const auto v = digits_value(digits);
  if (!v) return fail(path, "not a non-negative integer: " + quoted(digits));
  return *v;
}

std::expected<std::string, std::string> parse_proc_cgroup(std::string_view text,
                                                          const fs::path& path) {
  std::optional<std::string_view> v2, cpuacct;
  int line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    // "ID:CONTROLLERS:PATH"; PATH may itself hold ':' (cgroup names may), so split twice only.
    const auto c1 = line.find(':');
    const auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos || !digits_value(line.substr(0, c1))) {
      return fail(
          path, "line " + std::to_string(line_no) + " is not ID:CONTROLLERS:PATH: " + quoted(line));
    }
    const std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    const std::string_view cgroup = line.substr(c2 + 1);
    if (line.substr(0, c1) == "0" && controllers.empty()) {
      v2 = cgroup;
      continue;
    }
    std::string_view rest = controllers;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      if (rest.substr(0, comma) == "cpuacct") cpuacct = cgroup;
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
    }
  }
  // On a hybrid system the v2 line exists too, but CPU time is accounted in v1's cpuacct.
  const auto chosen = cpuacct ? cpuacct : v2;
  if (!chosen) return fail(path, "no cpuacct line and no cgroup v2 line (0::PATH)");
  // The kernel marks the cgroup of a task whose cgroup was removed (a zombie's).
  if (chosen->ends_with(" (deleted)")) return fail(path, "cgroup was deleted: " + quoted(*chosen));
  if (auto ok = check_cgroup_path(*chosen); !ok) return fail(path, ok.error());
  return std::string(*chosen);
}

std::expected<std::string, std::string> cgroup_of_pid(const fs::path& proc_root, pid_t pid) {
  const fs::path path = proc_root / std::to_string(pid) / "cgroup";
  if (pid <= 0) return fail(path, "not a process id");
  auto text = os::read_file(path);
  if (!text) return std::unexpected(text.error().message);
  return parse_proc_cgroup(*text, path);
}

CgroupReader::CgroupReader(fs::path root) : root_(std::move(root)) {}

std::expected<fs::path, std::string> CgroupReader::cpuacct_dir() const {
  // cpuacct first: systemd's "cpu,cpuacct" is reached through its cpuacct symlink.
  for (const char* name : {"cpuacct", "cpu,cpuacct", "cpuacct,cpu"}) {
    if (is_dir(root_ / name)) return root_ / name;
  }
  return fail(root_, "no cgroup v1 cpuacct hierarchy (cpuacct, cpu,cpuacct)");
}

std::expected<CgroupVersion, std::string> CgroupReader::version() const {
  std::error_code ec;
  if (!fs::exists(root_, ec)) return fail(root_, "No such file or directory");
  // Only a unified mount has cgroup.controllers at its top; a hybrid system has it in
  // ROOT/unified, which we do not look at.
  if (fs::is_regular_file(root_ / "cgroup.controllers", ec)) return CgroupVersion::v2;
  if (cpuacct_dir()) return CgroupVersion::v1;
  return fail(root_,
              "neither cgroup v2 (no cgroup.controllers) nor cgroup v1 (no cpuacct hierarchy)");
}

std::expected<CgroupUsage, std::string> CgroupReader::read(std::string_view cgroup) const {
  if (auto ok = check_cgroup_path(cgroup); !ok) return std::unexpected(ok.error());
  // The layout does not change while the machine runs: found once (two stats per job and
  // boundary otherwise, docs/benchmarks.md "Agent"); an error is looked into again next time.
  if (!layout_) {
    const auto found = version();
    if (!found) return std::unexpected(found.error());
    layout_ = *found;
  }
  const std::expected<CgroupVersion, std::string> v = *layout_;
  CgroupUsage usage;
  fs::path memory_file;
  if (*v == CgroupVersion::v2) {
    const fs::path dir = join(root_, cgroup);
    const fs::path stat = dir / "cpu.stat";
    auto text = os::read_file(stat);
    if (!text) return std::unexpected(text.error().message);
    auto cpu = parse_cpu_stat_usage(*text, stat);
    if (!cpu) return std::unexpected(cpu.error());
    usage.cpu_time = *cpu;
    memory_file = dir / "memory.current";
  } else {
    const auto cpuacct = cpuacct_dir();
    if (!cpuacct) return std::unexpected(cpuacct.error());
    auto ns = read_counter(join(*cpuacct, cgroup) / "cpuacct.usage", false);
    if (!ns) return std::unexpected(ns.error());
    usage.cpu_time = Duration(**ns);
    memory_file = join(root_ / "memory", cgroup) / "memory.usage_in_bytes";
  }
  auto mem = read_counter(memory_file, true);
  if (!mem) return std::unexpected(mem.error());
  usage.memory_bytes = mem->value_or(0);
  return usage;
}

std::expected<std::string, std::string> find_slurm_job_cgroup(const fs::path& root,
                                                              std::string_view job_id,
                                                              std::string_view node) {
  if (!digits_value(job_id)) {
    return std::unexpected("Slurm job id " + quoted(job_id) + ": not a decimal number");
  }
  const std::string job = "job_" + std::string(job_id);
  // A parent of Slurm's: the plain name, or with --enable-multiple-slurmd the node's (any node's
  // when node is empty).
  auto parent = [&](std::string_view name, std::string_view plain, std::string_view prefix,
                    std::string_view suffix) {
    if (name == plain) return true;
    if (!name.starts_with(prefix) || !name.ends_with(suffix)) return false;
    const auto n = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    return !n.empty() && (node.empty() || n == node);
  };
  const CgroupReader reader(root);
  const auto v = reader.version();
  if (!v) return std::unexpected(v.error());
  std::vector<std::string> found;
  fs::path searched;
  if (*v == CgroupVersion::v2) {
    searched = root / "system.slice";
    for (const auto& scope : subdirs(searched, [&](std::string_view n) {
           return parent(n, "slurmstepd.scope", "", "_slurmstepd.scope");
         })) {
      if (is_dir(searched / scope / job)) found.push_back("/system.slice/" + scope + "/" + job);
    }
  } else {
    searched = *reader.cpuacct_dir();
    for (const auto& slurm :
         subdirs(searched, [&](std::string_view n) { return parent(n, "slurm", "slurm_", ""); })) {
      for (const auto& uid :
           subdirs(searched / slurm, [](std::string_view n) { return n.starts_with("uid_"); })) {
        if (is_dir(searched / slurm / uid / job))
          found.push_back("/" + slurm + "/" + uid + "/" + job);
      }
    }
  }
  if (found.empty()) return fail(searched, "no Slurm cgroup " + job);
  if (found.size() > 1) {
    std::string all;
    for (const auto& f : found) all += (all.empty() ? "" : ", ") + f;
    return fail(searched, job + " found in several places: " + all);
  }
  return found.front();
}

}  // namespace jobcarbon::agent
