#include <jobcarbon/daemon/agent_service.hpp>

#include <gtest/gtest.h>

namespace jobcarbon::daemon {
namespace {

const std::filesystem::path kFixtures =
    std::filesystem::path(JOBCARBON_SOURCE_DIR) / "tests/fixtures";

agent::JobStart slurm_job(std::string id) {
  agent::JobStart j;
  j.key = agent::JobKey{"c", std::move(id), 1, "job"};
  j.user = "u";
  j.gpu_indices = {};
  return j;
}

TEST(JobUsageReader, APrologRegisteredJobFindsItsSlurmCgroupWhenItAppears) {
  JobUsageReader on_node1(kFixtures / "proc/x86", kFixtures / "cgroup/v2", "node1");
  const auto u = on_node1(slurm_job("42"));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->cpu_time, std::chrono::microseconds(7'543'210));
  EXPECT_EQ(u->memory_bytes, 2'147'483'648);
  // Job 44 runs on both emulated nodes: each agent reads its own node's part.
  JobUsageReader on_node2(kFixtures / "proc/x86", kFixtures / "cgroup/v2", "node2");
  EXPECT_EQ(on_node2(slurm_job("44"))->cpu_time, std::chrono::microseconds(6'000));
  // No cgroup yet: no CPU time of its own, and not "gone" (its job_end ends it).
  const auto none = on_node1(slurm_job("4242"));
  ASSERT_TRUE(none);
  EXPECT_EQ(none->cpu_time, Duration(0));
}

}  // namespace
}  // namespace jobcarbon::daemon
