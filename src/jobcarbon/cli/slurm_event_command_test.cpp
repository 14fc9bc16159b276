#include <jobcarbon/cli/slurm_event_command.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::cli {
namespace {

TEST(SlurmStepCgroup, IsTheStepsDirectoryAboveItsTask) {
  // cgroup v1 (cpuacct, as seen with jobacct_gather/cgroup on an emulated node n1).
  EXPECT_EQ(slurm_step_cgroup("/slurm_n1/uid_0/job_51863002/step_0/task_1", "51863002", "0"),
            "/slurm_n1/uid_0/job_51863002/step_0");
  EXPECT_EQ(slurm_step_cgroup("/slurm/uid_1000/job_7/step_batch/task_0", "7", "batch"),
            "/slurm/uid_1000/job_7/step_batch");
  // cgroup v2: tasks live in step_<id>/user/task_<n>, slurmstepd in step_<id>/slurm.
  EXPECT_EQ(
      slurm_step_cgroup("/system.slice/n1_slurmstepd.scope/job_7/step_12/user/task_0", "7", "12"),
      "/system.slice/n1_slurmstepd.scope/job_7/step_12");
  EXPECT_EQ(slurm_step_cgroup("/system.slice/slurmstepd.scope/job_7/step_3/slurm", "7", "3"),
            "/system.slice/slurmstepd.scope/job_7/step_3");
  EXPECT_EQ(slurm_step_cgroup("/slurm/uid_0/job_7/step_1", "7", "1"), "/slurm/uid_0/job_7/step_1");
}

TEST(SlurmStepCgroup, IsNothingOutsideThatStep) {
  // No job cgroups (proctrack/linuxproc): the task stays in its parent's cgroup.
  EXPECT_FALSE(slurm_step_cgroup("/", "7", "0"));
  EXPECT_FALSE(slurm_step_cgroup("/user.slice/session-1.scope", "7", "0"));
  // Another step, another job, or a name that merely starts the same.
  EXPECT_FALSE(slurm_step_cgroup("/slurm/uid_0/job_7/step_1/task_0", "7", "0"));
  EXPECT_FALSE(slurm_step_cgroup("/slurm/uid_0/job_8/step_0/task_0", "7", "0"));
  EXPECT_FALSE(slurm_step_cgroup("/slurm/uid_0/job_77/step_0/task_0", "7", "0"));
  EXPECT_FALSE(slurm_step_cgroup("/slurm/uid_0/job_7/step_10/task_0", "7", "1"));
  EXPECT_FALSE(slurm_step_cgroup("/slurm/uid_0/job_7/step_0/task_0", "", "0"));
  EXPECT_FALSE(slurm_step_cgroup("/slurm/uid_0/job_7/step_/task_0", "7", ""));
}

// A node agent that serves COUNT connections, one request each: `status` lists the Prolog's
// registration of job 51 (cluster jc, submitted at 1790000000 s), job_start is accepted, job_end
// gets a report of a sub-record. It keeps the requests.
class FakeAgent {
 public:
  FakeAgent(const std::filesystem::path& path, int count) {
    ::unlink(path.c_str());  // the previous fake agent's
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0 ||
        ::listen(fd_, 4) != 0) {
      throw std::runtime_error("cannot listen on " + path.string());
    }
    thread_ = std::thread([this, count] {
      for (int i = 0; i < count; ++i) serve_one();
    });
  }
  ~FakeAgent() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::vector<nlohmann::json> requests() {
    if (thread_.joinable()) thread_.join();
    return requests_;
  }

 private:
  void serve_one() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return;  // a client that never came fails its test, not hangs
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::string line;
    char ch = 0;
    while (::read(c, &ch, 1) == 1 && ch != '\n') line += ch;
    const auto m = nlohmann::json::parse(line);
    requests_.push_back(m);
    const nlohmann::json job = {{"cluster", "jc"},
                                {"job_id", "51"},
                                {"submit_time_us", 1'790'000'000'000'000},
                                {"step", "job"}};
    nlohmann::json reply = {{"v", 1}, {"type", "ok"}};
    if (m["type"] == "status") {
      nlohmann::json j = job;
      j.update({{"user", "root"}, {"uid", 0}, {"energy_uj", 0}, {"co2_kg", 0.0}});
      reply = {{"v", 1}, {"type", "status_reply"}, {"jobs", {j}}};
    } else if (m["type"] == "job_end") {
      nlohmann::json key = job;
      key["step"] = m["step"];
      const nlohmann::json zero = {{"gpu", 0},  {"cpu", 0},           {"dram", 0},
                                   {"node", 0}, {"estimated_cpu", 0}, {"estimated_memory", 0}};
      nlohmann::json charged = zero;
      charged["gpu"] = 3'600'000'000;  // 1 Wh
      reply = {{"v", 1},
               {"type", "job_report"},
               {"parent", job},
               {"domains_uj", charged},
               {"machine_domains_uj", charged},
               {"unallocated_domains_uj", zero},
               {"cpu_time_us", 10},
               {"co2_kg", 0.0004},
               {"pue", 1.0},
               {"kg_per_kwh", 0.4}};
      reply.update(key);
    }
    const std::string text = reply.dump() + "\n";
    [[maybe_unused]] const auto n = ::write(c, text.data(), text.size());
    ::close(c);
  }

  int fd_ = -1;
  std::thread thread_;
  std::vector<nlohmann::json> requests_;
};

// Slurm's variables for one test, as slurmstepd's plugin sets them; unset again afterwards.
class SlurmEnvironment {
 public:
  SlurmEnvironment(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const auto& [name, value] : vars) {
      ::setenv(name, value, 1);
      names_.emplace_back(name);
    }
  }
  ~SlurmEnvironment() {
    for (const auto& name : names_) ::unsetenv(name.c_str());
  }

 private:
  std::vector<std::string> names_;
};

// Run `jobcarbon slurm-event ARGS...` as the plugin does (its environment set here); return what
// it printed on stdout.
std::string run_event(std::vector<std::string> args) {
  CLI::App app;
  add_slurm_event_command(app);
  args.insert(args.begin(), "slurm-event");
  std::reverse(args.begin(), args.end());
  ::testing::internal::CaptureStdout();
  app.parse(args);
  std::fflush(stdout);
  return ::testing::internal::GetCapturedStdout();
}

TEST(SlurmStepEvents, AStepIsRegisteredUnderItsJobsKeyAndItsEndPrintsTheUsersLine) {
  testing::TempDir dir;
  const auto socket = (dir / "agent.sock").string();
  const auto config = (dir / "config.toml").string();
  std::ofstream{config} << "intensity = 0.4\n";
  const SlurmEnvironment env{{"SLURM_JOB_ID", "51"},     {"SLURM_CLUSTER_NAME", "jc"},
                             {"SLURM_JOB_USER", "root"}, {"SLURM_JOB_UID", "0"},
                             {"SLURM_STEP_GPUS", "1"},   {"SLURMD_NODENAME", "n7"}};
  {
    FakeAgent agent(dir / "agent.sock", 2);
    // This test's own process stands for the step's task: it is in no Slurm step's cgroup, so
    // the step is followed by slurmstepd's pid.
    EXPECT_EQ(
        run_event({"step-start", "--step", "0", "--pid", std::to_string(::getpid()), "--task-pid",
                   std::to_string(::getpid()), "--socket", socket, "--config", config}),
        "");
    const auto got = agent.requests();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0]["type"], "status");
    EXPECT_EQ(got[1]["type"], "job_start");
    EXPECT_EQ(got[1]["cluster"], "jc");
    EXPECT_EQ(got[1]["job_id"], "51");
    EXPECT_EQ(got[1]["step"], "0");
    EXPECT_EQ(got[1]["submit_time_us"], 1'790'000'000'000'000);  // the Prolog's, from the agent
    EXPECT_EQ(got[1]["pids"], nlohmann::json::array({::getpid()}));
    EXPECT_EQ(got[1]["gpu_indices"], nlohmann::json::array({1}));
  }
  {
    FakeAgent agent(dir / "agent.sock", 2);
    const auto out = run_event(
        {"step-end", "--step", "0", "--exit-code", "3", "--socket", socket, "--config", config});
    EXPECT_EQ(out,
              "jobcarbon: step 51.0 on n7: 1 Wh, 0.4 g CO2 (its share of job 51's record; "
              "jobcarbon show 51)\n");
    const auto got = agent.requests();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[1]["type"], "job_end");
    EXPECT_EQ(got[1]["step"], "0");
    EXPECT_EQ(got[1]["exit_code"], 3);
    EXPECT_EQ(got[1]["submit_time_us"], 1'790'000'000'000'000);
  }
}

TEST(SlurmStepEvents, AStepOfAJobTheAgentDoesNotKnowIsNotSent) {
  testing::TempDir dir;
  const auto socket = (dir / "agent.sock").string();
  const auto config = (dir / "config.toml").string();
  std::ofstream{config} << "intensity = 0.4\n";
  const SlurmEnvironment env{{"SLURM_JOB_ID", "52"}};
  FakeAgent agent(dir / "agent.sock", 1);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(run_event({"step-start", "--step", "batch", "--pid", "1", "--socket", socket,
                       "--config", config}),
            "");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err,
            "jobcarbon slurm-event step-start job 52 step batch: the job is not registered on "
            "this node (is the Prolog installed?)\n");
  ASSERT_EQ(agent.requests().size(), 1u);  // the status request only
}

}  // namespace
}  // namespace jobcarbon::cli
