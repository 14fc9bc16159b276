// AgentService::parent_of for Slurm steps: a step registered by the SPANK plugin is a sub-record
// of its job's Prolog registration (step "job", same cluster, job id and submit time), so that
// its energy is a share of the job's and the node's energy is charged once.
#include <jobcarbon/daemon/agent_service.hpp>

#include <map>
#include <tuple>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::daemon {
namespace {

using namespace std::chrono_literals;

// One GPU energy counter whose value the test sets.
class GpuCounter final : public sensors::Sensor {
 public:
  explicit GpuCounter(std::shared_ptr<std::int64_t> uj) : uj_(std::move(uj)) {
    sensors::Channel c;
    c.id = "nvml:GPU-a";
    c.label = c.id;
    c.domain = sensors::Domain::kGpu;
    c.kind = sensors::ChannelKind::kEnergyCounter;
    c.device = "GPU-a";
    channels_.push_back(c);
  }
  std::string_view name() const override { return "nvml"; }
  const std::vector<sensors::Channel>& channels() const override { return channels_; }
  void read(std::vector<sensors::Reading>& out) override { out = {*uj_}; }

 private:
  std::shared_ptr<std::int64_t> uj_;
  std::vector<sensors::Channel> channels_;
};

struct StepParent : ::testing::Test {
  testing::TempDir state{"jobcarbon-step-parent-"};
  os::FakeClock clock;
  os::Machine machine{std::filesystem::path(JOBCARBON_SOURCE_DIR) / "tests/fixtures/proc/x86"};
  std::shared_ptr<std::int64_t> gpu_uj = std::make_shared<std::int64_t>(0);
  std::unique_ptr<energy::Meter> meter;
  // CPU time by cgroup ("" is the Prolog's registration, which names no cgroup).
  std::map<std::string, Duration> cpu;
  std::unique_ptr<agent::Engine> engine;
  JobUsageReader usage{std::filesystem::path(JOBCARBON_SOURCE_DIR) / "tests/fixtures/proc/x86",
                       state / "no-cgroup"};
  std::unique_ptr<AgentService> service;

  StepParent() {
    std::vector<std::unique_ptr<sensors::Sensor>> s;
    s.push_back(std::make_unique<GpuCounter>(gpu_uj));
    meter = std::make_unique<energy::Meter>(std::move(s), clock);
    agent::EngineConfig c;
    c.node = "n1";
    c.cluster = "c1";
    c.online_cpus = 4;
    c.gpus = {{0, "GPU-a", "NVIDIA H100", "", true}};
    engine = std::make_unique<agent::Engine>(
        *meter, clock, machine, c,
        [this](const agent::JobStart& j) -> std::expected<agent::JobCounters, agent::UsageError> {
          return agent::JobCounters{cpu[j.cgroup], 0};
        },
        agent::CarbonModel{});
    ServiceConfig sc;
    sc.state_dir = state / "state";
    sc.open_ledger = [this] { return ledger::open_store((state / "ledger.db").string()); };
    service = std::make_unique<AgentService>(*engine, usage, clock, sc);
    service->start("boot-1");
  }

  // Send one message as root; return the agent's reply.
  nlohmann::json send(const nlohmann::json& message) {
    return nlohmann::json::parse(service->handle(agent::PeerCred{1, 0, 0}, message.dump()));
  }
  // Return the ledger's job records (the charged ones: Slurm steps are never among them) as
  // (job id, step, GPU µJ).
  std::vector<std::tuple<std::string, std::string, std::int64_t>> charged() {
    std::vector<std::tuple<std::string, std::string, std::int64_t>> out;
    auto store = ledger::open_store((state / "ledger.db").string());
    if (!store) {
      ADD_FAILURE() << store.error();
      return out;
    }
    const auto records = (*store)->list_jobs({});
    if (!records) {
      ADD_FAILURE() << records.error();
      return out;
    }
    for (const auto& r : *records) out.emplace_back(r.job_id, r.step, r.energy.gpu.value);
    return out;
  }
  static nlohmann::json start(const std::string& job, std::int64_t submit, const std::string& step,
                              const std::string& cgroup) {
    nlohmann::json m = {{"v", 1},          {"type", "job_start"}, {"cluster", "c1"},
                        {"job_id", job},   {"step", step},        {"submit_time_us", submit},
                        {"user", "alice"}, {"uid", 1000},         {"account", "vision"}};
    if (step == "job") m["gpu_indices"] = {0};
    if (!cgroup.empty()) m["cgroup"] = cgroup;
    return m;
  }
  static nlohmann::json end(const std::string& job, std::int64_t submit, const std::string& step) {
    return {{"v", 1},          {"type", "job_end"},
            {"cluster", "c1"}, {"job_id", job},
            {"step", step},    {"submit_time_us", submit},
            {"exit_code", 0},  {"end_time_us", 1'900'000'000'000'000}};
  }
};

constexpr std::int64_t kSubmit = 1'790'000'000'000'000;

TEST_F(StepParent, AStepIsASubRecordOfItsJobAndTheGpuIsChargedOnce) {
  ASSERT_EQ(send(start("7", kSubmit, "job", ""))["type"], "ok");
  cpu["/slurm/uid_1000/job_7/step_0"] = 0s;
  ASSERT_EQ(send(start("7", kSubmit, "0", "/slurm/uid_1000/job_7/step_0"))["type"], "ok");
  // The job used 2 s of CPU, of which the step 0.5 s; the GPU 400 J.
  clock.advance(1s);
  cpu[""] = 2s;  // the job's Slurm cgroup, as JobUsageReader would find it
  cpu["/slurm/uid_1000/job_7/step_0"] = 500ms;
  *gpu_uj = 400'000'000;
  service->counter_tick();
  const auto step = send(end("7", kSubmit, "0"));
  ASSERT_EQ(step["type"], "job_report") << step.dump();
  EXPECT_EQ(step["parent"]["step"], "job");
  EXPECT_EQ(step["parent"]["job_id"], "7");
  EXPECT_EQ(step["domains_uj"]["gpu"], 100'000'000);  // a quarter of the job's CPU time
  EXPECT_TRUE(charged().empty());                     // nothing charged for the step
  const auto job = send(end("7", kSubmit, "job"));
  ASSERT_EQ(job["type"], "job_report") << job.dump();
  EXPECT_TRUE(job["parent"].is_null());
  EXPECT_EQ(job["domains_uj"]["gpu"], 400'000'000);  // all of it, once
  using Row = std::tuple<std::string, std::string, std::int64_t>;
  EXPECT_EQ(charged(), std::vector<Row>{Row("7", "job", 400'000'000)});
}

TEST_F(StepParent, AJobWithoutCpuTimeOfItsOwnGivesItsStepsNothing) {
  // No job cgroup (ProctrackType=proctrack/linuxproc): the job has no CPU time, so its steps'
  // share is nothing; the job's record still holds the GPU's energy.
  ASSERT_EQ(send(start("8", kSubmit, "job", ""))["type"], "ok");
  cpu["/step"] = 0s;
  ASSERT_EQ(send(start("8", kSubmit, "batch", "/step"))["type"], "ok");
  clock.advance(1s);
  cpu["/step"] = 1s;
  *gpu_uj = 50'000'000;
  service->counter_tick();
  const auto step = send(end("8", kSubmit, "batch"));
  EXPECT_EQ(step["parent"]["step"], "job");
  EXPECT_EQ(step["domains_uj"]["gpu"], 0);
  EXPECT_EQ(send(end("8", kSubmit, "job"))["domains_uj"]["gpu"], 50'000'000);
}

TEST_F(StepParent, OnlyTheSameJobIncarnationsRegistrationIsAParent) {
  ASSERT_EQ(send(start("9", kSubmit, "job", ""))["type"], "ok");
  cpu["/a"] = 0s;
  cpu["/b"] = 0s;
  cpu["/c"] = 0s;
  // Slurm reused job id 9: another submit time is another job.
  ASSERT_EQ(send(start("9", kSubmit + 1, "0", "/a"))["type"], "ok");
  // Another job id, and another cluster's job 9.
  ASSERT_EQ(send(start("10", kSubmit, "0", "/b"))["type"], "ok");
  auto other = start("9", kSubmit, "0", "/c");
  other["cluster"] = "c2";
  ASSERT_EQ(send(other)["type"], "ok");
  EXPECT_TRUE(send(end("9", kSubmit + 1, "0"))["parent"].is_null());
  EXPECT_TRUE(send(end("10", kSubmit, "0"))["parent"].is_null());
  auto other_end = end("9", kSubmit, "0");
  other_end["cluster"] = "c2";
  EXPECT_TRUE(send(other_end)["parent"].is_null());
}

TEST_F(StepParent, AStepWithoutItsJobsRegistrationIsTopLevel) {
  // No Prolog registration (a site with the SPANK plugin only): the step is charged on its own.
  cpu["/s"] = 0s;
  ASSERT_EQ(send(start("11", kSubmit, "batch", "/s"))["type"], "ok");
  clock.advance(1s);
  service->counter_tick();
  *gpu_uj = 10'000'000;
  service->counter_tick();
  const auto r = send(end("11", kSubmit, "batch"));
  ASSERT_EQ(r["type"], "job_report");
  EXPECT_TRUE(r["parent"].is_null());
  using Row = std::tuple<std::string, std::string, std::int64_t>;
  EXPECT_EQ(charged(), std::vector<Row>{Row("11", "batch", 0)});  // its own record (no GPU)
}

}  // namespace
}  // namespace jobcarbon::daemon
