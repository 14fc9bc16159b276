#include <jobcarbon/os/child_process.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::os {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

// Wait until the command exits (at most 5 s) and return its status.
ExitStatus run_to_end(ChildProcess& child) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!child.exit_status() && std::chrono::steady_clock::now() < deadline) {
    child.wait(milliseconds(500));
  }
  EXPECT_TRUE(child.exit_status().has_value()) << "command did not exit";
  if (!child.exit_status()) {
    // Do not leave it behind to disturb the next test (it may have every signal blocked).
    child.send_signal(SIGKILL);
    child.wait(std::chrono::seconds(1));
    return ExitStatus{-1, 0};
  }
  return *child.exit_status();
}

ExitStatus run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  auto child = ChildProcess::spawn(argv, env);
  EXPECT_TRUE(child.has_value()) << child.error().message;
  if (!child) return {-1, 0};
  return run_to_end(*child);
}

// Wait (supervising the command) until a file exists: the command's "I am ready" mark.
bool wait_for_file(ChildProcess& child, const fs::path& file) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!fs::exists(file)) {
    if (child.exit_status() || std::chrono::steady_clock::now() > deadline) return false;
    child.wait(milliseconds(10));
  }
  return true;
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ChildProcess, CommandNotFoundIs127LikeAShell) {
  auto child = ChildProcess::spawn({"python4-jobcarbon-no-such-command", "x.py"});
  ASSERT_FALSE(child.has_value());
  EXPECT_EQ(child.error().exit_code, 127);
  EXPECT_EQ(child.error().message,
            "jobcarbon: python4-jobcarbon-no-such-command: command not found");

  auto path = ChildProcess::spawn({"/nonexistent/train.sh"});
  ASSERT_FALSE(path.has_value());
  EXPECT_EQ(path.error().exit_code, 127);
  EXPECT_EQ(path.error().message, "jobcarbon: /nonexistent/train.sh: No such file or directory");
}

TEST(ChildProcess, MissingInterpreterIs127AndNamed) {
  testing::TempDir dir("jobcarbon-child-");
  const fs::path script = dir.path() / "train.py";
  std::ofstream(script) << "#!/nonexistent/python9 -u\nprint(1)\n";
  fs::permissions(script, fs::perms::owner_all);
  auto child = ChildProcess::spawn({script.string()});
  ASSERT_FALSE(child.has_value());
  EXPECT_EQ(child.error().exit_code, 127);
  EXPECT_EQ(child.error().message, "jobcarbon: " + script.string() +
                                       ": /nonexistent/python9: bad interpreter: No such file or "
                                       "directory");
}

TEST(ChildProcess, NotExecutableIs126) {
  testing::TempDir dir("jobcarbon-child-");
  const fs::path script = dir.path() / "train.sh";
  std::ofstream(script) << "#!/bin/sh\nexit 0\n";
  // 0644: no execute bit for anyone, which stops root too.
  fs::permissions(script, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::others_read);
  auto child = ChildProcess::spawn({script.string()});
  ASSERT_FALSE(child.has_value());
  EXPECT_EQ(child.error().exit_code, 126);
  EXPECT_EQ(child.error().message, "jobcarbon: " + script.string() + ": Permission denied");

  auto directory = ChildProcess::spawn({dir.path().string()});
  ASSERT_FALSE(directory.has_value());
  EXPECT_EQ(directory.error().exit_code, 126);
  EXPECT_EQ(directory.error().message, "jobcarbon: " + dir.path().string() + ": Is a directory");
}

TEST(ChildProcess, NotExecutableFoundThroughPathIs126) {
  testing::TempDir dir("jobcarbon-child-");
  std::ofstream(dir.path() / "train-jc") << "#!/bin/sh\nexit 0\n";
  const std::string old_path = std::getenv("PATH");
  ::setenv("PATH", (dir.path().string() + ":" + old_path).c_str(), 1);
  auto child = ChildProcess::spawn({"train-jc"});
  ::setenv("PATH", old_path.c_str(), 1);
  ASSERT_FALSE(child.has_value());
  EXPECT_EQ(child.error().exit_code, 126);
  EXPECT_EQ(child.error().message, "jobcarbon: train-jc: Permission denied");
}

TEST(ChildProcess, ExitCodesAsAShellReportsThem) {
  EXPECT_EQ(run({"sh", "-c", "exit 0"}).code, 0);  // found through PATH
  EXPECT_EQ(run({"/bin/sh", "-c", "exit 3"}).code, 3);
  const ExitStatus killed = run({"/bin/sh", "-c", "kill -KILL $$"});
  EXPECT_EQ(killed.code, 137);
  EXPECT_EQ(killed.signal, SIGKILL);
}

TEST(ChildProcess, ExtraEnvironmentIsAddedAndReplaces) {
  ::setenv("JOBCARBON_TEST_A", "1", 1);
  EXPECT_EQ(run({"/bin/sh", "-c", "exit $((JOBCARBON_TEST_A * 10 + JOBCARBON_TEST_B))"},
                {"JOBCARBON_TEST_A=4", "JOBCARBON_TEST_B=2"})
                .code,
            42);
  ::unsetenv("JOBCARBON_TEST_A");
}

TEST(ChildProcess, StartsWithEmptyMaskAndDefaultDispositionsButKeepsNohup) {
  // jobcarbon blocks the supervised signals; say it also ignores SIGUSR2 and runs under nohup.
  ASSERT_TRUE(block_supervised_signals().has_value());
  struct sigaction ign {
  }, old_usr2{}, old_hup{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGUSR2, &ign, &old_usr2);
  ::sigaction(SIGHUP, &ign, &old_hup);
  const ExitStatus s = run({"/usr/bin/python3", "-c", R"(
import signal, sys
blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
ok = (not blocked and signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
      and signal.getsignal(signal.SIGHUP) == signal.SIG_IGN)
sys.exit(0 if ok else 1)
)"});
  ::sigaction(SIGUSR2, &old_usr2, nullptr);
  ::sigaction(SIGHUP, &old_hup, nullptr);
  EXPECT_EQ(s.code, 0);
}

TEST(ChildProcess, SigusrSentWithKillIsForwardedToTheCheckpointHandler) {
  testing::TempDir dir("jobcarbon-child-");
  const fs::path out = dir.path() / "checkpoint";
  auto child = ChildProcess::spawn({"/usr/bin/python3", "-c", R"(
import signal, sys
out = sys.argv[1]
def checkpoint(signo, frame):
    open(out, 'w').write('checkpoint %d' % signo)
    sys.exit(5)
signal.signal(signal.SIGUSR1, checkpoint)
open(out + '.ready', 'w').close()
while True:
    signal.pause()
)",
                                    out.string()});
  ASSERT_TRUE(child.has_value()) << child.error().message;
  if (!wait_for_file(*child, out.string() + ".ready")) {
    run_to_end(*child);
    FAIL() << "the command never got ready";
  }
  // As `kill -USR1 <jobcarbon pid>` or Slurm would: si_code SI_USER.
  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
  const WaitEvent e = child->wait(std::chrono::seconds(2));
  EXPECT_EQ(e.kind, WaitEvent::Kind::signal);
  EXPECT_EQ(e.signal, SIGUSR1);
  EXPECT_TRUE(e.forwarded);
  EXPECT_EQ(run_to_end(*child).code, 5);
  EXPECT_EQ(slurp(out), "checkpoint " + std::to_string(SIGUSR1));
}

TEST(ChildProcess, SigtermSentWithKillIsForwarded) {
  testing::TempDir dir("jobcarbon-child-");
  const fs::path out = dir.path() / "term";
  auto child = ChildProcess::spawn(
      {"/bin/sh", "-c",
       "trap 'echo term > \"$0\"; exit 9' TERM; : > \"$0.ready\"; while :; do sleep 0.02; done",
       out.string()});
  ASSERT_TRUE(child.has_value()) << child.error().message;
  if (!wait_for_file(*child, out.string() + ".ready")) {
    run_to_end(*child);
    FAIL() << "the command never got ready";
  }
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  EXPECT_EQ(run_to_end(*child).code, 9);
  EXPECT_EQ(slurp(out), "term\n");
}

TEST(ChildProcess, SignalFromTheCommandItselfIsNotSentBack) {
  // The command signals jobcarbon (as `kill 0` would, to the whole group). Sending it back would
  // kill the shell (default action of SIGUSR1) and the exit code would be 138.
  auto child = ChildProcess::spawn({"/bin/sh", "-c", "kill -USR1 $PPID; sleep 0.2; exit 4"});
  ASSERT_TRUE(child.has_value()) << child.error().message;
  const WaitEvent e = child->wait(std::chrono::seconds(2));
  EXPECT_EQ(e.kind, WaitEvent::Kind::signal);
  EXPECT_EQ(e.signal, SIGUSR1);
  EXPECT_FALSE(e.forwarded);
  EXPECT_EQ(run_to_end(*child).code, 4);
}

TEST(ShouldForward, TerminalSignalsAreNotSentTwice) {
  const pid_t child = 4000;
  // Ctrl-C / Ctrl-\ / hangup: the tty driver signals the foreground group, child included.
  EXPECT_FALSE(should_forward(SIGINT, SI_KERNEL, 0, child));
  EXPECT_FALSE(should_forward(SIGQUIT, SI_KERNEL, 0, child));
  EXPECT_FALSE(should_forward(SIGHUP, SI_KERNEL, 0, child));
  // kill(), sigqueue(), tgkill() from another process: forwarded.
  EXPECT_TRUE(should_forward(SIGINT, SI_USER, 1234, child));
  EXPECT_TRUE(should_forward(SIGUSR1, SI_QUEUE, 1234, child));
  EXPECT_TRUE(should_forward(SIGTERM, SI_TKILL, 1234, child));
  EXPECT_TRUE(should_forward(SIGUSR2, SI_USER, 1234, child));
  // The command's own signal, and signals outside the forwarded set.
  EXPECT_FALSE(should_forward(SIGTERM, SI_USER, child, child));
  EXPECT_FALSE(should_forward(SIGCHLD, SI_USER, 1234, child));
  EXPECT_FALSE(should_forward(SIGWINCH, SI_KERNEL, 0, child));
  EXPECT_FALSE(should_forward(SIGALRM, SI_USER, 1234, child));
}

TEST(ChildProcess, ExitIsReportedOnceAndSignalsAfterwardsAreNotForwarded) {
  auto child = ChildProcess::spawn({"/bin/sh", "-c", "exit 0"});
  ASSERT_TRUE(child.has_value());
  EXPECT_EQ(run_to_end(*child).code, 0);
  EXPECT_EQ(child->wait(milliseconds(10)).kind, WaitEvent::Kind::timeout);
  EXPECT_FALSE(child->send_signal(SIGTERM));
  ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
  const WaitEvent e = child->wait(std::chrono::seconds(1));
  EXPECT_EQ(e.kind, WaitEvent::Kind::signal);
  EXPECT_FALSE(e.forwarded);  // the pid may belong to someone else by now
}

TEST(ChildProcess, SendSignalReachesTheCommand) {
  auto child = ChildProcess::spawn({"/bin/sleep", "5"});
  ASSERT_TRUE(child.has_value());
  EXPECT_TRUE(child->send_signal(SIGTERM));
  const ExitStatus s = run_to_end(*child);
  EXPECT_EQ(s.code, 128 + SIGTERM);
  EXPECT_EQ(s.signal, SIGTERM);
}

TEST(ChildProcess, DaemonisedDescendantsAreSeenAfterTheCommandExits) {
  ASSERT_TRUE(become_subreaper().has_value());
  const auto start = std::chrono::steady_clock::now();
  auto child = ChildProcess::spawn({"/bin/sh", "-c", "sleep 0.3 & exit 0"});
  ASSERT_TRUE(child.has_value());
  EXPECT_EQ(run_to_end(*child).code, 0);
  EXPECT_TRUE(child->descendants_alive());  // the background sleep, now ours
  while (child->descendants_alive() &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    child->wait(milliseconds(20));
  }
  EXPECT_FALSE(child->descendants_alive());
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(250));
}

}  // namespace
}  // namespace jobcarbon::os
