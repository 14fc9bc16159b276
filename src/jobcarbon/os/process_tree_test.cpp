#include <jobcarbon/os/process_tree.hpp>

#include <chrono>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <time.h>
#include <unistd.h>

#include <jobcarbon/os/child_process.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::os {
namespace {

using std::chrono::milliseconds;

// A /proc/<pid>/stat line with the fields the tree reads; the rest are plausible constants.
std::string stat_line(pid_t pid, const std::string& comm, pid_t ppid, long utime, long stime,
                      long cutime, long cstime, long rss_pages, unsigned long start = 1000) {
  return std::to_string(pid) + " (" + comm + ") S " + std::to_string(ppid) + " " +
         std::to_string(pid) + " 7006 0 -1 4194304 100 0 0 0 " + std::to_string(utime) + " " +
         std::to_string(stime) + " " + std::to_string(cutime) + " " + std::to_string(cstime) +
         " 20 0 1 0 " + std::to_string(start) + " 3133440 " + std::to_string(rss_pages) +
         " 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
}

// A scratch proc root in which the test writes <pid>/stat files.
class FakeProc {
 public:
  void write(pid_t pid, const std::string& line) {
    std::filesystem::create_directories(dir_ / std::to_string(pid));
    std::ofstream(dir_ / std::to_string(pid) / "stat") << line;
  }
  void remove(pid_t pid) { std::filesystem::remove_all(dir_ / std::to_string(pid)); }
  const std::filesystem::path& root() const { return dir_.path(); }

 private:
  testing::TempDir dir_{"jobcarbon-proc-"};
};

Duration ticks(std::int64_t n) {
  return Duration(n * 1'000'000'000 / ::sysconf(_SC_CLK_TCK));
}

TEST(ParseProcStat, CommWithSpacesAndParentheses) {
  const auto s = parse_proc_stat(stat_line(4242, "(a) b)", 4241, 11, 22, 33, 44, 55, 66));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->pid, 4242);
  EXPECT_EQ(s->ppid, 4241);
  EXPECT_EQ(s->state, 'S');
  EXPECT_EQ(s->utime, 11);
  EXPECT_EQ(s->stime, 22);
  EXPECT_EQ(s->cutime, 33);
  EXPECT_EQ(s->cstime, 44);
  EXPECT_EQ(s->rss_pages, 55);
  EXPECT_EQ(s->starttime, 66u);
  // A real line from this kernel, as read from /proc/self/stat.
  const auto real = parse_proc_stat(
      "10512 (cat) R 10510 10510 7006 0 -1 4194304 100 0 0 0 3 1 0 0 20 0 1 0 908415 3133440 414 "
      "18446744073709551615 94681511669760 94681511689641 140727346337504 0 0 0 0 0 0 0 0 0 17 1 "
      "0 0 0 0 0 94681511705648 94681511707264 94681934196736 140727346338443 140727346338463 "
      "140727346338463 140727346339819 0\n");
  ASSERT_TRUE(real.has_value());
  EXPECT_EQ(real->ppid, 10510);
  EXPECT_EQ(real->utime, 3);
  EXPECT_EQ(real->stime, 1);
  EXPECT_EQ(real->starttime, 908415u);
  EXPECT_EQ(real->rss_pages, 414);
}

TEST(ParseProcStat, GarbageIsRejected) {
  EXPECT_FALSE(parse_proc_stat("").has_value());
  EXPECT_FALSE(parse_proc_stat("12 (x").has_value());
  EXPECT_FALSE(parse_proc_stat("12 (x) S 1 2 3").has_value());  // truncated
  EXPECT_FALSE(parse_proc_stat("x (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 1 1 20 0 1 0 1 1 1").has_value());
  EXPECT_FALSE(parse_proc_stat("12 (x) S 1 1 1 0 -1 0 0 0 0 0 u 1 1 1 20 0 1 0 1 1 1").has_value());
  EXPECT_TRUE(parse_proc_stat("12 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 1 1 20 0 1 0 1 1 1").has_value());
}

// root 100 (jobcarbon) has reaped children worth 7+3 ticks. Its tree: 101 "(a) b)" -> 102, and
// 103, a daemon re-parented to 100. 200 -> 201 and init are outside and must not count.
void write_tree(FakeProc& proc) {
  proc.write(1, stat_line(1, "init", 0, 90000, 90000, 90000, 90000, 100));
  proc.write(100, stat_line(100, "jobcarbon", 50, 5000, 5000, 7, 3, 2000));
  proc.write(101, stat_line(101, "(a) b)", 100, 100, 10, 5, 6, 1000));
  proc.write(102, stat_line(102, "python3", 101, 400, 40, 0, 0, 3000));
  proc.write(103, stat_line(103, "daemon", 100, 60, 6, 0, 0, 500));
  proc.write(200, stat_line(200, "sshd", 1, 7777, 7777, 7777, 7777, 9000));
  proc.write(201, stat_line(201, "bash", 200, 8888, 8888, 0, 0, 9000));
  std::filesystem::create_directories(proc.root() / "sys");  // not a pid: ignored
  proc.write(300, "garbage");                                // unparsable: skipped
}

TEST(ProcessTree, SumsDescendantsAndRootsReapedChildrenOnly) {
  FakeProc proc;
  write_tree(proc);
  ProcessTree tree(100, proc.root());
  const TreeUsage u = tree.sample().value();
  // 101: 100+10+5+6, 102: 400+40, 103: 60+6, root's cutime+cstime: 7+3. Root's own 5000+5000
  // is jobcarbon's and is left out.
  EXPECT_EQ(u.cpu_time, ticks(121 + 440 + 66 + 10));
  EXPECT_EQ(u.processes, 3);
  EXPECT_EQ(u.rss_bytes, (1000 + 3000 + 500) * ::sysconf(_SC_PAGESIZE));
}

TEST(ProcessTree, FollowsChangesBetweenScans) {
  FakeProc proc;
  write_tree(proc);
  ProcessTree tree(100, proc.root());
  ASSERT_TRUE(tree.sample().has_value());

  // 102 exits and 101 reaps it (its cutime grows by 102's 440); 101 forks 50 (pid wrapped, so
  // the child's pid is below its parent's); 103's child 104 appears.
  proc.remove(102);
  proc.write(101, stat_line(101, "(a) b)", 100, 120, 10, 5 + 400, 6 + 40, 1000));
  proc.write(50, stat_line(50, "worker", 101, 30, 3, 0, 0, 10));
  proc.write(104, stat_line(104, "child", 103, 1, 1, 0, 0, 10));
  const TreeUsage u = tree.sample().value();
  EXPECT_EQ(u.cpu_time, ticks((120 + 10 + 405 + 46) + 33 + 66 + 2 + 10));
  EXPECT_EQ(u.processes, 4);

  // A count that goes back (a reap seen half-way) is held at the last value.
  proc.write(101, stat_line(101, "(a) b)", 100, 0, 0, 0, 0, 1000));
  EXPECT_EQ(tree.sample().value().cpu_time, u.cpu_time);
}

TEST(ProcessTree, OrphanWhoseParentVanishedIsDecidedAgainNextScan) {
  FakeProc proc;
  write_tree(proc);
  // 105 was read while its parent 104 was exiting: the parent is gone, the ppid not yet updated.
  proc.write(105, stat_line(105, "orphan", 104, 500, 0, 0, 0, 10));
  ProcessTree tree(100, proc.root());
  EXPECT_EQ(tree.sample().value().processes, 3);
  // Next scan it shows up re-parented to the subreaper root and is charged from then on.
  proc.write(105, stat_line(105, "orphan", 100, 500, 0, 0, 0, 10));
  const TreeUsage u = tree.sample().value();
  EXPECT_EQ(u.processes, 4);
  EXPECT_EQ(u.cpu_time, ticks(121 + 440 + 66 + 10 + 500));
}

TEST(ProcessTree, MissingRootIsAnError) {
  FakeProc proc;
  write_tree(proc);
  ProcessTree tree(999, proc.root());
  ASSERT_FALSE(tree.sample().has_value());
  EXPECT_NE(tree.sample().error().find("999/stat"), std::string::npos);
  ProcessTree nowhere(100, proc.root() / "nope");
  EXPECT_FALSE(nowhere.sample().has_value());
  EXPECT_EQ(nowhere.cpu_time(), Duration(0));
}

// Return this process's own CPU time.
Duration own_cpu_time() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Wait for the command and every descendant to finish, sampling the tree meanwhile.
struct Observed {
  ExitStatus status;
  int max_processes_after_exit = 0;
};
Observed supervise(ChildProcess& child, ProcessTree& tree) {
  Observed seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (child.descendants_alive() && std::chrono::steady_clock::now() < deadline) {
    child.wait(milliseconds(50));
    const auto u = tree.sample();
    if (u && child.exit_status()) {
      seen.max_processes_after_exit = std::max(seen.max_processes_after_exit, u->processes);
    }
  }
  EXPECT_TRUE(child.exit_status().has_value());
  if (child.exit_status()) seen.status = *child.exit_status();
  return seen;
}

TEST(ProcessTree, DaemonisedGrandchildIsCharged) {
  // The grandchild double-forks away from the command (setsid, parent exits) and burns 0.5 s of
  // CPU after the command itself has exited. Only a subreaper keeps it in our tree.
  ASSERT_TRUE(become_subreaper().has_value());
  ProcessTree tree;
  const Duration before = tree.sample().value().cpu_time;
  auto child = ChildProcess::spawn({"/usr/bin/python3", "-c", R"(
import os, time
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        t = time.process_time()
        while time.process_time() - t < 0.5:
            pass
        os._exit(0)
    os._exit(0)
os.waitpid(pid, 0)
)"});
  ASSERT_TRUE(child.has_value()) << child.error().message;
  const Observed seen = supervise(*child, tree);
  EXPECT_EQ(seen.status.code, 0);
  EXPECT_GE(seen.max_processes_after_exit, 1) << "the daemon was not seen live in the tree";
  const Duration charged = tree.sample().value().cpu_time - before;
  EXPECT_GE(charged, milliseconds(480)) << to_seconds(charged);
}

TEST(ProcessTree, ReapedChildKeepsItsCpuTime) {
  ProcessTree tree;
  const Duration before = tree.sample().value().cpu_time;
  auto child = ChildProcess::spawn({"/usr/bin/python3", "-c", R"(
import time
t = time.process_time()
while time.process_time() - t < 0.3:
    pass
)"});
  ASSERT_TRUE(child.has_value()) << child.error().message;
  const Observed seen = supervise(*child, tree);
  EXPECT_EQ(seen.status.code, 0);
  // The child is gone: its time is now only in our RUSAGE_CHILDREN.
  const TreeUsage after = tree.sample().value();
  EXPECT_EQ(after.processes, 0);
  EXPECT_GE(after.cpu_time - before, milliseconds(290)) << to_seconds(after.cpu_time - before);
}

TEST(ProcessTree, OwnCpuTimeIsNotCharged) {
  ProcessTree tree;
  const Duration before = tree.sample().value().cpu_time;
  const Duration start = own_cpu_time();
  volatile std::uint64_t sink = 0;
  while (own_cpu_time() - start < milliseconds(200)) sink = sink + 1;
  EXPECT_LT(tree.sample().value().cpu_time - before, milliseconds(20));
}

}  // namespace
}  // namespace jobcarbon::os
