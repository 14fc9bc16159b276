// CPU time and memory of a process tree, read from a proc root (/proc or a fixture tree).
//
// Accounting (see docs/process-tracking.md): the tree's CPU time is
//   sum over live descendants D of root:  utime(D) + stime(D) + cutime(D) + cstime(D)
//   + cutime(root) + cstime(root)
// A process's cutime/cstime hold the CPU time of the children it has reaped (including what those
// children had reaped in turn), so the second line keeps the time of processes that already
// exited; root's own utime/stime are left out, because the root is jobcarbon itself and its own
// work is not the job's. cutime/cstime of the root are what getrusage(RUSAGE_CHILDREN) returns
// inside the root; we read them from <proc>/<root>/stat so a fixture tree can test the formula.
// For orphaned descendants to stay in the tree, the root must be a child subreaper
// (become_subreaper() in child_process.hpp); otherwise they are re-parented to init and lost.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <dirent.h>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::os {

// The fields of one /proc/<pid>/stat line that the tree needs (times in clock ticks).
struct ProcStat {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';
  std::int64_t utime = 0;
  std::int64_t stime = 0;
  std::int64_t cutime = 0;
  std::int64_t cstime = 0;
  std::uint64_t starttime = 0;  // clock ticks after boot: with pid, names one process for good
  std::int64_t rss_pages = 0;
};

// Return the fields of a /proc/<pid>/stat line, or nullopt when it is malformed. The command name
// (field 2) may hold spaces and parentheses, so fields are counted from the LAST ')'.
std::optional<ProcStat> parse_proc_stat(std::string_view line);

// What one scan of the tree found.
struct TreeUsage {
  Duration cpu_time{0};        // cumulative, never decreases between scans of one ProcessTree
  std::int64_t rss_bytes = 0;  // sum over live descendants: shared pages are counted per process
  int processes = 0;           // live descendants (zombies included), the root excluded
};

// The descendants of one root process. Not thread-safe; keeps buffers between scans so that a
// scan in steady state does not allocate. Move-only (it owns an open directory).
class ProcessTree {
 public:
  // Watch the descendants of root (default: this process) under proc_root.
  explicit ProcessTree(pid_t root = ::getpid(), std::filesystem::path proc_root = "/proc");
  ProcessTree(ProcessTree&& other) noexcept;
  ProcessTree& operator=(ProcessTree&& other) noexcept;
  ProcessTree(const ProcessTree&) = delete;
  ProcessTree& operator=(const ProcessTree&) = delete;
  ~ProcessTree();

  // Scan the proc root once and return the tree's usage, or an error when the proc root or the
  // root's own stat cannot be read. Processes that vanish during the scan are skipped. The CPU
  // time is clamped to never decrease: a child reaped by its parent between our reads of the two
  // may be counted twice or not at all for one scan, and a cumulative counter must not go back.
  std::expected<TreeUsage, std::string> sample();

  // Return sample()'s CPU time, or the last good value when the scan fails. One scan per call:
  // use sample() when several numbers are needed.
  Duration cpu_time();

  // Return sample()'s RSS in bytes, or 0 when the scan fails. One scan per call.
  std::int64_t rss_bytes();

 private:
  // A process read in this scan and its place relative to the root.
  enum class Place : unsigned char { unknown, visiting, inside, outside, unsure };
  struct Entry {
    ProcStat stat;
    Place place = Place::unknown;
  };

  bool read_stat(pid_t pid, ProcStat& out);
  void classify();
  Place place_of_parent(pid_t ppid, std::size_t& parent_index) const;

  pid_t root_;
  std::filesystem::path proc_root_;
  DIR* dir_ = nullptr;
  long ticks_per_second_;
  std::int64_t page_size_;
  // Pids found outside the tree by an earlier scan, sorted. They are not read again: a process
  // never moves into a tree it was outside of (an orphan goes to the nearest subreaper among its
  // ancestors, or init), so in steady state a scan reads only new pids and the tree's members.
  std::vector<pid_t> outside_;
  std::vector<pid_t> next_outside_;  // built during a scan, swapped into outside_
  std::vector<Entry> entries_;       // pids read in this scan, sorted
  std::vector<std::size_t> chain_;
  Duration last_cpu_{0};
};

}  // namespace jobcarbon::os
