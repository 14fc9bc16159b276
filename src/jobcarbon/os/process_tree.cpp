#include <jobcarbon/os/process_tree.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace jobcarbon::os {

namespace {

template <typename T>
bool parse_number(std::string_view token, T& out) {
  const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), out);
  return ec == std::errc() && ptr == token.data() + token.size() && !token.empty();
}

// Return the pid a /proc directory entry names, or 0 for anything else (self, sys, ...).
pid_t pid_of_name(const char* name) {
  pid_t pid = 0;
  const std::string_view s(name);
  return parse_number(s, pid) && pid > 0 ? pid : 0;
}

Duration ticks_to_duration(std::int64_t ticks, long ticks_per_second) {
  return Duration(
      static_cast<std::int64_t>(static_cast<Int128>(ticks) * 1'000'000'000 / ticks_per_second));
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view line) {
  // "PID (COMM) STATE PPID ...": COMM is whatever the process named itself, so it may contain
  // ") (" or spaces; the last ')' ends it because no later field can contain one.
  const auto open = line.find(" (");
  const auto close = line.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return std::nullopt;
  }
  ProcStat out;
  if (!parse_number(line.substr(0, open), out.pid)) return std::nullopt;
  std::string_view rest = line.substr(close + 1);
  // Field numbers as in proc(5); field 3 (state) is the first after the comm.
  int field = 2;
  while (field < 24) {
    if (rest.empty() || rest.front() != ' ') return std::nullopt;
    rest.remove_prefix(1);
    const auto end = std::min(rest.find_first_of(" \n"), rest.size());
    const std::string_view token = rest.substr(0, end);
    rest.remove_prefix(end);
    ++field;
    bool ok = true;
    switch (field) {
      case 3:
        ok = token.size() == 1;
        out.state = token.empty() ? '?' : token[0];
        break;
      case 4:
        ok = parse_number(token, out.ppid);
        break;
      case 14:
        ok = parse_number(token, out.utime);
        break;
      case 15:
        ok = parse_number(token, out.stime);
        break;
      case 16:
        ok = parse_number(token, out.cutime);
        break;
      case 17:
        ok = parse_number(token, out.cstime);
        break;
      case 22:
        ok = parse_number(token, out.starttime);
        break;
      case 24:
        ok = parse_number(token, out.rss_pages);
        break;
      default:
        ok = !token.empty();
        break;
    }
    if (!ok) return std::nullopt;
  }
  return out;
}

ProcessTree::ProcessTree(pid_t root, std::filesystem::path proc_root)
    : root_(root),
      proc_root_(std::move(proc_root)),
      ticks_per_second_(std::max(1L, ::sysconf(_SC_CLK_TCK))),
      page_size_(std::max(1L, ::sysconf(_SC_PAGESIZE))) {}

ProcessTree::ProcessTree(ProcessTree&& other) noexcept
    : root_(other.root_),
      proc_root_(std::move(other.proc_root_)),
      dir_(std::exchange(other.dir_, nullptr)),
      ticks_per_second_(other.ticks_per_second_),
      page_size_(other.page_size_),
      outside_(std::move(other.outside_)),
      next_outside_(std::move(other.next_outside_)),
      entries_(std::move(other.entries_)),
      chain_(std::move(other.chain_)),
      last_cpu_(other.last_cpu_) {}

ProcessTree& ProcessTree::operator=(ProcessTree&& other) noexcept {
  if (this != &other) {
    if (dir_ != nullptr) ::closedir(dir_);
    root_ = other.root_;
    proc_root_ = std::move(other.proc_root_);
    dir_ = std::exchange(other.dir_, nullptr);
    ticks_per_second_ = other.ticks_per_second_;
    page_size_ = other.page_size_;
    outside_ = std::move(other.outside_);
    next_outside_ = std::move(other.next_outside_);
    entries_ = std::move(other.entries_);
    chain_ = std::move(other.chain_);
    last_cpu_ = other.last_cpu_;
  }
  return *this;
}

ProcessTree::~ProcessTree() {
  if (dir_ != nullptr) ::closedir(dir_);
}

bool ProcessTree::read_stat(pid_t pid, ProcStat& out) {
  // A fixed buffer and openat on the open proc directory: no allocation, no path building.
  char path[32];
  const auto [end, ec] = std::to_chars(path, path + sizeof path - 6, pid);
  if (ec != std::errc()) return false;
  std::memcpy(end, "/stat", 6);
  const int fd = ::openat(::dirfd(dir_), path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return false;
  auto parsed = parse_proc_stat(std::string_view(buf, static_cast<std::size_t>(n)));
  if (!parsed || parsed->pid != pid) return false;
  out = *parsed;
  return true;
}

ProcessTree::Place ProcessTree::place_of_parent(pid_t ppid, std::size_t& parent_index) const {
  if (ppid == root_) return Place::inside;
  const auto it = std::lower_bound(entries_.begin(), entries_.end(), ppid,
                                   [](const Entry& e, pid_t p) { return e.stat.pid < p; });
  if (it != entries_.end() && it->stat.pid == ppid) {
    parent_index = static_cast<std::size_t>(it - entries_.begin());
    return it->place;  // unknown or visiting: the caller walks on
  }
  // Pid 0 is the parent of init and kthreadd; a remembered outsider stays outside.
  if (ppid == 0 || std::binary_search(outside_.begin(), outside_.end(), ppid)) {
    return Place::outside;
  }
  // The parent vanished during the scan: its orphans are being re-parented (to the root when it
  // is a subreaper), so decide again next scan rather than remember the child as an outsider.
  return Place::unsure;
}

void ProcessTree::classify() {
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].place != Place::unknown) continue;
    // Walk up the ppid links until a process whose place is known, then give that place to
    // every process on the way. Each process is walked once per scan.
    chain_.clear();
    std::size_t at = i;
    Place place;
    for (;;) {
      chain_.push_back(at);
      entries_[at].place = Place::visiting;
      std::size_t parent = 0;
      place = place_of_parent(entries_[at].stat.ppid, parent);
      if (place == Place::visiting) place = Place::unsure;  // a ppid cycle: only in bad fixtures
      if (place != Place::unknown) break;
      at = parent;
    }
    for (const std::size_t k : chain_) entries_[k].place = place;
  }
}

std::expected<TreeUsage, std::string> ProcessTree::sample() {
  if (dir_ == nullptr) {
    dir_ = ::opendir(proc_root_.c_str());
    if (dir_ == nullptr) {
      return std::unexpected(proc_root_.string() + ": " + std::strerror(errno));
    }
  } else {
    ::rewinddir(dir_);  // re-reads the directory: /proc lists the processes alive now
  }
  ProcStat root_stat;
  if (!read_stat(root_, root_stat)) {
    return std::unexpected((proc_root_ / std::to_string(root_) / "stat").string() +
                           ": cannot read the root process's stat");
  }

  entries_.clear();
  next_outside_.clear();
  while (const dirent* d = ::readdir(dir_)) {
    const pid_t pid = pid_of_name(d->d_name);
    if (pid == 0 || pid == root_) continue;
    if (std::binary_search(outside_.begin(), outside_.end(), pid)) {
      next_outside_.push_back(pid);
      continue;
    }
    Entry e;
    if (read_stat(pid, e.stat)) entries_.push_back(e);  // else it exited meanwhile
  }
  // /proc lists pids in ascending order already; a fixture directory may not.
  std::sort(entries_.begin(), entries_.end(),
            [](const Entry& a, const Entry& b) { return a.stat.pid < b.stat.pid; });
  classify();

  std::int64_t ticks = root_stat.cutime + root_stat.cstime;
  TreeUsage usage;
  for (const Entry& e : entries_) {
    if (e.place == Place::inside) {
      ticks += e.stat.utime + e.stat.stime + e.stat.cutime + e.stat.cstime;
      usage.rss_bytes += e.stat.rss_pages * page_size_;
      ++usage.processes;
    } else if (e.place == Place::outside) {
      next_outside_.push_back(e.stat.pid);
    }
  }
  std::sort(next_outside_.begin(), next_outside_.end());
  std::swap(outside_, next_outside_);

  last_cpu_ = std::max(last_cpu_, ticks_to_duration(ticks, ticks_per_second_));
  usage.cpu_time = last_cpu_;
  return usage;
}

Duration ProcessTree::cpu_time() {
  const auto usage = sample();
  return usage ? usage->cpu_time : last_cpu_;
}

std::int64_t ProcessTree::rss_bytes() {
  const auto usage = sample();
  return usage ? usage->rss_bytes : 0;
}

}  // namespace jobcarbon::os
