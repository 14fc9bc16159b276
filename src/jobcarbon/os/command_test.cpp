#include <jobcarbon/os/command.hpp>

#include <gtest/gtest.h>

#include <chrono>

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

TEST(RunCommand, OutputBeyondTheLimitIsDiscardedNotBuffered) {
  auto r = run_command({"sh", "-c", "head -c 100000 /dev/zero; echo done >&2"}, 5s, 1000);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->out.size(), 1000u);
  EXPECT_EQ(r->err, "done\n");
}

}  // namespace
}  // namespace jobcarbon::os
