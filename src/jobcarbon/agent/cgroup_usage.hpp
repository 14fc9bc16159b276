// CPU time and memory of a cgroup (a Slurm job's job_<id> cgroup), read from the cgroup file
// system, v1 or v2. The agent splits CPU-package and DRAM energy among jobs by these CPU times.
//
// Layouts (tests/fixtures/cgroup/README.md):
//   v2 (unified): ROOT/cgroup.controllers exists; ROOT/<cgroup>/cpu.stat "usage_usec N" (µs),
//                 ROOT/<cgroup>/memory.current (bytes).
//   v1: ROOT/cpuacct/<cgroup>/cpuacct.usage (ns; systemd mounts cpu and cpuacct together as
//       ROOT/cpu,cpuacct and adds symlinks cpu and cpuacct to it), ROOT/memory/<cgroup>/
//       memory.usage_in_bytes. A hybrid system (v1 controllers plus an empty v2 at ROOT/unified)
//       counts as v1: that is where its CPU accounting lives.
//
// A cgroup string may come from a socket message: check_cgroup_path() refuses anything that
// could name a file outside ROOT, and every reader calls it first.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::agent {

// What one read of a cgroup found.
struct CgroupUsage {
  Duration cpu_time{0};           // cumulative CPU time of all tasks in the cgroup, ever
  std::int64_t memory_bytes = 0;  // current memory charge; 0 when the memory controller is absent
};

enum class CgroupVersion { v1, v2 };

// Return nothing when cgroup is a safe absolute cgroup path ("/", "/slurm/uid_1/job_2"): it
// starts with '/', has no ".." component and no NUL byte; otherwise an error naming the problem.
// Lexical checks suffice because a cgroup file system holds no symlinks below a controller's
// mount point, so ROOT/<cgroup> stays inside ROOT.
std::expected<void, std::string> check_cgroup_path(std::string_view cgroup);

// Return the CPU time of a v2 cpu.stat text (its "usage_usec N" line, µs), or an error that
// starts with "PATH: " (path names the file in messages only): no usage_usec line, two of them,
// a value that is not a plain decimal integer, or one too large for Duration.
std::expected<Duration, std::string> parse_cpu_stat_usage(std::string_view text,
                                                          const std::filesystem::path& path);

// Return the non-negative decimal integer of a cgroup counter file (cpuacct.usage,
// memory.current, memory.usage_in_bytes: digits and one optional newline), or an error that
// starts with "PATH: ". Signs, spaces, empty text and overflow of int64 are errors.
std::expected<std::int64_t, std::string> parse_cgroup_counter(std::string_view text,
                                                              const std::filesystem::path& path);

// Return the cgroup path in a /proc/PID/cgroup text: the cpuacct hierarchy's path when a v1
// line names cpuacct (v1 and hybrid systems), else the v2 line's ("0::/path"); or an error that
// starts with "PATH: " (a malformed line, neither line present, a path that fails
// check_cgroup_path, or a cgroup the kernel marks " (deleted)").
std::expected<std::string, std::string> parse_proc_cgroup(std::string_view text,
                                                          const std::filesystem::path& path);

// Return the cgroup of process pid, parse_proc_cgroup() of PROC_ROOT/<pid>/cgroup, or an error
// naming that file (the process may have exited).
std::expected<std::string, std::string> cgroup_of_pid(const std::filesystem::path& proc_root,
                                                      pid_t pid);

// Reads cgroups under one mounted cgroup root. Remembers the layout (v1 or v2) once found;
// everything else is read from the file system at every call. Not thread-safe (one per thread).
class CgroupReader {
 public:
  // Read cgroups under root ("/sys/fs/cgroup", or a fixture tree).
  explicit CgroupReader(std::filesystem::path root = "/sys/fs/cgroup");

  // Return the layout root holds, or an error naming root when it holds neither.
  std::expected<CgroupVersion, std::string> version() const;

  // Return the usage of cgroup (an absolute cgroup path as /proc/PID/cgroup shows it), or an
  // error naming the file that failed (or the refused cgroup string). The CPU counter must be
  // readable; a missing memory file (controller not enabled there) gives memory_bytes 0, any
  // other memory read failure is an error. On v1 the same path is used in cpuacct and memory,
  // as Slurm creates it in both.
  std::expected<CgroupUsage, std::string> read(std::string_view cgroup) const;

  // Return the directory of the v1 cpuacct hierarchy (ROOT/cpuacct, ROOT/cpu,cpuacct or
  // ROOT/cpuacct,cpu, symlinks followed), or an error naming root when there is none.
  std::expected<std::filesystem::path, std::string> cpuacct_dir() const;

  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
  mutable std::optional<CgroupVersion> layout_;  // version() once it succeeded
};

// Return the cgroup of Slurm job job_id (decimal digits) under root, relative to root with a
// leading '/' ("/system.slice/node1_slurmstepd.scope/job_42"). Only Slurm's parents are searched:
//   v2: ROOT/system.slice/{slurmstepd.scope, <node>_slurmstepd.scope}/job_<id>
//   v1: CPUACCT/{slurm, slurm_<node>}/uid_<uid>/job_<id> (reported relative to the hierarchy)
// When node is not empty only the plain and that node's parents count (several slurmd on one
// host: --enable-multiple-slurmd). Returns an error when the job is not found, or when it is
// found in more than one place (naming them).
std::expected<std::string, std::string> find_slurm_job_cgroup(const std::filesystem::path& root,
                                                              std::string_view job_id,
                                                              std::string_view node = {});

}  // namespace jobcarbon::agent
