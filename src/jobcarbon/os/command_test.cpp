#include <jobcarbon/os/command.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

namespace jobcarbon::os {
namespace {

using namespace std::chrono_literals;

TEST(RunCommand, CollectsOutputErrorAndExitCode) {
  auto r = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"}, 5s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 3);
}

TEST(RunCommand, StdinIsEmpty) {
  auto r = run_command({"cat"}, 5s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->out, "");
  EXPECT_EQ(r->exit_code, 0);
}

TEST(RunCommand, KilledBySignalReadsAsAShellDoes) {
  auto r = run_command({"sh", "-c", "kill -TERM $$"}, 5s);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->exit_code, 128 + 15);
}

TEST(RunCommand, AHungCommandIsKilledAtTheDeadline) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_command({"sleep", "30"}, 200ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "sleep: no answer within 0.2 s");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST(RunCommand, AMissingProgramIsNamed) {
  auto r = run_command({"/nonexistent/squeue", "-h"}, 1s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "/nonexistent/squeue: cannot run: No such file or directory");
}

TEST(RunCommand, AGivenEnvironmentIsAllTheCommandGets) {
  ::setenv("JOBCARBON_COMMAND_TEST_SECRET", "from the caller", 1);
  const std::vector<std::string> env = {"ONLY=this"};
  auto r = run_command({"/usr/bin/env"}, 5s, 1 << 20, &env);
  auto inherited = run_command({"/usr/bin/env"}, 5s);
  ::unsetenv("JOBCARBON_COMMAND_TEST_SECRET");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->out, "ONLY=this\n");
  ASSERT_TRUE(inherited) << inherited.error();
  EXPECT_NE(inherited->out.find("JOBCARBON_COMMAND_TEST_SECRET=from the caller"),
            std::string::npos);
}

TEST(RunCommand, InheritsNoDescriptorBeyondTheStandardOnes) {
  const int fd = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC
  ASSERT_GE(fd, 3);
  auto r =
      run_command({"/bin/sh", "-c", "test -e /proc/self/fd/$0 && echo inherited || echo closed",
                   std::to_string(fd)},
                  5s);
  ::close(fd);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->out, "closed\n");
}

TEST(RunCommand, OutputBeyondTheLimitIsDiscardedNotBuffered) {
  auto r = run_command({"sh", "-c", "head -c 100000 /dev/zero; echo done >&2"}, 5s, 1000);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->out.size(), 1000u);
  EXPECT_EQ(r->err, "done\n");
}

}  // namespace
}  // namespace jobcarbon::os
