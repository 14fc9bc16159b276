#include <jobcarbon/agent/engine.hpp>

#include <map>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::agent {
namespace {

using namespace std::chrono_literals;
using sensors::Channel;
using sensors::ChannelKind;
using sensors::Domain;

// A sensor whose readings the test sets between reads (shared with the test through `values`).
class ControlledSensor final : public sensors::Sensor {
 public:
  ControlledSensor(std::string name, std::vector<Channel> channels,
                   std::shared_ptr<std::vector<sensors::Reading>> values)
      : name_(std::move(name)), channels_(std::move(channels)), values_(std::move(values)) {}
  std::string_view name() const override { return name_; }
  const std::vector<Channel>& channels() const override { return channels_; }
  void read(std::vector<sensors::Reading>& out) override {
    ++reads;
    out = *values_;
  }
  int reads = 0;

 private:
  std::string name_;
  std::vector<Channel> channels_;
  std::shared_ptr<std::vector<sensors::Reading>> values_;
};

Channel counter(std::string id, Domain d, std::string device = {}) {
  Channel c;
  c.id = std::move(id);
  c.label = c.id;
  c.domain = d;
  c.kind = ChannelKind::kEnergyCounter;
  c.device = std::move(device);
  return c;
}

// A node: two GPUs (NVML counters), one CPU package (RAPL counter, wraps at 1e9 µJ), a node
// power meter (hwmon power); four CPUs.
struct Node {
  std::shared_ptr<std::vector<sensors::Reading>> gpu =
      std::make_shared<std::vector<sensors::Reading>>(std::vector<sensors::Reading>{0, 0});
  std::shared_ptr<std::vector<sensors::Reading>> rapl =
      std::make_shared<std::vector<sensors::Reading>>(std::vector<sensors::Reading>{0});
  std::shared_ptr<std::vector<sensors::Reading>> wall =
      std::make_shared<std::vector<sensors::Reading>>(std::vector<sensors::Reading>{0});
  ControlledSensor* gpu_sensor = nullptr;
  ControlledSensor* wall_sensor = nullptr;
  std::unique_ptr<energy::Meter> meter;

  Node(const os::Clock& clock, bool with_wall = false) {
    std::vector<std::unique_ptr<sensors::Sensor>> s;
    auto g = std::make_unique<ControlledSensor>(
        "nvml",
        std::vector<Channel>{counter("nvml:GPU-a", Domain::kGpu, "GPU-a"),
                             counter("nvml:GPU-b", Domain::kGpu, "GPU-b")},
        gpu);
    gpu_sensor = g.get();
    s.push_back(std::move(g));
    Channel pkg = counter("rapl:intel-rapl:0", Domain::kCpuPackage);
    pkg.wrap_range = Microjoules(1'000'000'000);
    s.push_back(std::make_unique<ControlledSensor>("rapl", std::vector<Channel>{pkg}, rapl));
    if (with_wall) {
      Channel w;
      w.id = "hwmon:node";
      w.label = "node";
      w.domain = Domain::kNode;
      w.kind = ChannelKind::kPower;
      auto ws = std::make_unique<ControlledSensor>("hwmon", std::vector<Channel>{w}, wall);
      wall_sensor = ws.get();
      s.push_back(std::move(ws));
    }
    meter = std::make_unique<energy::Meter>(std::move(s), clock);
  }
  // Advance the counters by these joules.
  void add(std::int64_t gpu_a_j, std::int64_t gpu_b_j, std::int64_t pkg_j) {
    (*gpu)[0] = *(*gpu)[0] + gpu_a_j * 1'000'000;
    (*gpu)[1] = *(*gpu)[1] + gpu_b_j * 1'000'000;
    (*rapl)[0] = (*(*rapl)[0] + pkg_j * 1'000'000) % 1'000'000'000;
  }
};

JobStart job(std::string id, std::vector<std::string> gpus, std::string cgroup) {
  JobStart j;
  j.key = JobKey{"c1", std::move(id), 1'700'000'000'000'000, "batch"};
  j.user = "alice";
  j.uid = 1000;
  j.account = "vision";
  j.gpus = std::move(gpus);
  j.cgroup = std::move(cgroup);
  return j;
}

struct Fixture : ::testing::Test {
  os::FakeClock clock;
  os::Machine machine{std::filesystem::path(JOBCARBON_SOURCE_DIR) / "tests/fixtures/proc/x86"};
  std::map<std::string, std::expected<JobCounters, UsageError>> cpu;  // by cgroup
  EngineConfig config() {
    EngineConfig c;
    c.node = "n1";
    c.cluster = "c1";
    c.online_cpus = 4;
    c.gpus = {{0, "GPU-a", "NVIDIA H100", "", true}, {1, "GPU-b", "NVIDIA H100", "", true}};
    return c;
  }
  UsageReader reader() {
    return [this](const JobStart& j) -> std::expected<JobCounters, UsageError> {
      const auto it = cpu.find(j.cgroup);
      if (it == cpu.end()) return std::unexpected(UsageError{true, "no cgroup " + j.cgroup});
      return it->second;
    };
  }
  CarbonModel carbon() {
    CarbonModel m;
    m.pue = 1.5;
    m.kg_per_kwh = 0.4;
    m.zone = "DE";
    // 0.4 kg/kWh at PUE 1.5: 0.6 kg per IT kWh.
    m.co2_kg = [](Microjoules e, os::WallTime, os::WallTime) {
      return static_cast<double>(e.value) / 3.6e12 * 0.6;
    };
    return m;
  }
  void set_cpu(const std::string& cg, Duration t) { cpu[cg] = JobCounters{t, 0}; }
};

TEST_F(Fixture, TwoJobsOnASharedNodeAddUpWithUnallocatedToTheNodeExactly) {
  Node node(clock);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  e.start(std::nullopt, "boot-1");
  set_cpu("/job_1", 0s);
  set_cpu("/job_2", 0s);
  ASSERT_TRUE(e.job_start(job("1", {"GPU-a"}, "/job_1")));
  ASSERT_TRUE(e.job_start(job("2", {"GPU-b"}, "/job_2")));
  for (int i = 0; i < 3; ++i) {
    clock.advance(1s);
    node.add(300, 200, 40);           // 300 J and 200 J on the GPUs, 40 J on the package
    set_cpu("/job_1", (i + 1) * 1s);  // 1 of 4 CPUs
    set_cpu("/job_2", (i + 1) * 2s);  // 2 of 4 CPUs
    e.boundary();
  }
  ASSERT_EQ(e.jobs().size(), 2u);
  const auto& a = e.jobs()[0];
  const auto& b = e.jobs()[1];
  EXPECT_EQ(a.charged[Domain::kGpu], Microjoules(900'000'000));
  EXPECT_EQ(b.charged[Domain::kGpu], Microjoules(600'000'000));
  EXPECT_EQ(a.charged[Domain::kCpuPackage], Microjoules(30'000'000));  // 1/4 of 120 J
  EXPECT_EQ(b.charged[Domain::kCpuPackage], Microjoules(60'000'000));  // 2/4 of 120 J
  EXPECT_EQ(e.unallocated_total()[Domain::kCpuPackage], Microjoules(30'000'000));
  EXPECT_EQ(e.unallocated_total()[Domain::kGpu], Microjoules(0));
  // Conservation: jobs + unallocated == machine, per domain.
  for (std::size_t d = 0; d < 7; ++d) {
    EXPECT_EQ(a.charged.by_domain[d] + b.charged.by_domain[d] + e.unallocated_total().by_domain[d],
              e.machine_total().by_domain[d]);
  }
  EXPECT_EQ(e.machine_total().total(), Microjoules(1'620'000'000));
  EXPECT_NEAR(a.co2_kg, 930.0 / 3.6e6 * 0.6, 1e-12);

  clock.advance(500ms);
  node.add(10, 0, 4);
  set_cpu("/job_1", 4s);  // 1 s of CPU in 0.5 s on 4 CPUs (2 s of capacity): half the package
  JobEnd end{job("1", {}, "").key, 3, 0};
  ASSERT_TRUE(e.job_end(end));
  ASSERT_EQ(e.outbox().jobs.size(), 1u);
  const auto& r = e.outbox().jobs[0];
  EXPECT_EQ(r.job_id, "1");
  EXPECT_EQ(r.node, "n1");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.energy.gpu, Microjoules(910'000'000));
  EXPECT_EQ(r.energy.cpu, Microjoules(30'000'000 + 2'000'000));  // 1 s of 2 s capacity: half of 4 J
  EXPECT_EQ(r.energy_charged, r.energy.gpu + r.energy.cpu);
  EXPECT_EQ(r.machine_energy, Microjoules(1'620'000'000 + 14'000'000));
  EXPECT_EQ(r.gpu_count, 1);
  EXPECT_EQ(r.gpu_model, "NVIDIA H100");
  EXPECT_EQ(r.account, "vision");
  EXPECT_EQ(r.method, "measured");
  EXPECT_DOUBLE_EQ(r.pue, 1.5);
  EXPECT_NEAR(r.intensity_kg_per_kwh, 0.4, 1e-12);  // the mean of a constant intensity
  EXPECT_EQ(e.jobs().size(), 1u);
  EXPECT_EQ(e.status().jobs.size(), 1u);
  EXPECT_EQ(e.status().jobs[0].key.job_id, "2");
}

TEST_F(Fixture, ExclusiveJobGetsTheWholeNodeAndCounterWrapsAreExact) {
  Node node(clock);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  (*node.rapl)[0] = 999'000'000;  // 1 J below the wrap
  e.start(std::nullopt, "boot-1");
  set_cpu("/job_9", 0s);
  auto j = job("9", {"GPU-a", "GPU-b"}, "/job_9");
  j.exclusive = true;
  ASSERT_TRUE(e.job_start(j));
  clock.advance(2s);
  node.add(100, 50, 5);  // wraps the package counter: 999 J + 5 J → 4 J
  e.boundary();
  ASSERT_TRUE(e.job_end(JobEnd{j.key, 0, 0}));
  const auto& r = e.outbox().jobs.at(0);
  EXPECT_EQ(r.energy_charged, Microjoules(155'000'000));
  EXPECT_EQ(r.unallocated_energy, Microjoules(0));
  EXPECT_EQ(r.cpus, 4);
}

TEST_F(Fixture, IdleIntervalsBecomeOneRecordClosedWhenAJobStarts) {
  Node node(clock);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  e.start(std::nullopt, "boot-1");
  const auto t0 = ledger::Timestamp(std::chrono::floor<std::chrono::microseconds>(clock.wall()));
  for (int i = 0; i < 5; ++i) {
    clock.advance(1s);
    node.add(1, 1, 1);
    e.boundary();
  }
  EXPECT_TRUE(e.outbox().idle.empty());
  EXPECT_EQ(e.idle_total().total(), Microjoules(15'000'000));
  ASSERT_TRUE(e.journal().idle_open.has_value());
  set_cpu("/job_1", 0s);
  clock.advance(1s);
  node.add(1, 1, 1);
  ASSERT_TRUE(e.job_start(job("1", {"GPU-a"}, "/job_1")));  // its boundary is still idle
  ASSERT_EQ(e.outbox().idle.size(), 1u);
  const auto& idle = e.outbox().idle[0];
  EXPECT_EQ(idle.node, "n1");
  EXPECT_EQ(idle.cluster, "c1");
  EXPECT_EQ(idle.start, t0);
  EXPECT_EQ(idle.end - idle.start, std::chrono::microseconds(6s));
  EXPECT_EQ(idle.energy, Microjoules(18'000'000));
  EXPECT_FALSE(e.journal().idle_open.has_value());
}

TEST_F(Fixture, PowerOnlySensorsAreReadOftenAndCountersOnlyAtBoundaries) {
  Node node(clock, /*with_wall=*/true);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  e.start(std::nullopt, "boot-1");
  const int gpu_reads = node.gpu_sensor->reads;
  (*node.wall)[0] = 500'000'000;  // 500 W
  for (int i = 0; i < 10; ++i) {
    clock.advance(100ms);
    e.sample_power();
  }
  EXPECT_EQ(node.gpu_sensor->reads, gpu_reads);  // NVML untouched by power samples
  EXPECT_EQ(node.wall_sensor->reads, 11);
  node.add(100, 100, 100);
  e.boundary();
  EXPECT_EQ(node.gpu_sensor->reads, gpu_reads + 1);
  // The start read 0 W: (0 + 500) / 2 W for the first 0.1 s, then 500 W for 0.9 s; the boundary
  // at the same instant adds nothing.
  const auto snap = e.metrics();
  ASSERT_EQ(snap.channels.size(), 4u);
  EXPECT_EQ(snap.channels[3].sensor, "hwmon");
  EXPECT_EQ(snap.channels[3].energy, Microjoules(25'000'000 + 450'000'000));
  EXPECT_EQ(snap.channels[0].energy, Microjoules(100'000'000));
  ASSERT_EQ(snap.sensors.size(), 3u);
  EXPECT_TRUE(snap.sensors[0].up);
}

TEST_F(Fixture, RestartWithinTheBootContinuesFromTheJournalExactly) {
  JournalState saved;
  std::int64_t charged_before = 0;
  set_cpu("/job_5", 0s);
  auto j = job("5", {"GPU-a"}, "/job_5");
  j.exclusive = true;
  Node first(clock);
  first.add(1000, 1000, 100);  // energy before the job: never the job's
  Engine e1(*first.meter, clock, machine, config(), reader(), carbon());
  e1.start(std::nullopt, "boot-1");
  ASSERT_TRUE(e1.job_start(j));
  const std::int64_t gpu_at_start = *(*first.gpu)[0] + *(*first.gpu)[1];
  const std::int64_t pkg_at_start = *(*first.rapl)[0];
  clock.advance(1s);
  first.add(10, 20, 3);
  e1.boundary();
  saved = e1.journal();
  charged_before = e1.jobs()[0].charged.total().value;
  // More happens after the journal was written, then the agent is killed: those 2 s are not in
  // the journal, and the agent is down for 30 s more.
  clock.advance(2s);
  first.add(7, 7, 7);
  e1.sample_power();
  clock.advance(30s);
  first.add(70, 70, 70);

  // A new agent process: new sensors reading the same hardware counters.
  Node second(clock);
  *second.gpu = *first.gpu;
  *second.rapl = *first.rapl;
  Engine e2(*second.meter, clock, machine, config(), reader(), carbon());
  const auto notes = e2.start(saved, "boot-1");
  ASSERT_FALSE(notes.empty());
  EXPECT_THAT(notes[0], ::testing::HasSubstr("resumed"));
  ASSERT_EQ(e2.jobs().size(), 1u);
  EXPECT_EQ(e2.jobs()[0].charged.total().value, charged_before);
  clock.advance(1s);
  second.add(1, 2, 3);
  ASSERT_TRUE(e2.job_end(JobEnd{j.key, 0, 0}));
  const auto& r = e2.outbox().jobs.at(0);
  const std::int64_t gpu_at_end = *(*second.gpu)[0] + *(*second.gpu)[1];
  const std::int64_t pkg_at_end = *(*second.rapl)[0];
  EXPECT_EQ(r.energy_charged.value, (gpu_at_end - gpu_at_start) + (pkg_at_end - pkg_at_start));
}

TEST_F(Fixture, AfterARebootTheJournalsJobsEndWithWhatWasMeasured) {
  Node node(clock);
  Engine e1(*node.meter, clock, machine, config(), reader(), carbon());
  e1.start(std::nullopt, "boot-1");
  set_cpu("/job_5", 0s);
  auto j = job("5", {"GPU-a"}, "/job_5");
  ASSERT_TRUE(e1.job_start(j));
  clock.advance(1s);
  node.add(10, 0, 0);
  e1.boundary();
  const auto saved = e1.journal();

  Node after(clock);  // counters restarted at 0
  Engine e2(*after.meter, clock, machine, config(), reader(), carbon());
  const auto notes = e2.start(saved, "boot-2");
  EXPECT_TRUE(e2.jobs().empty());
  ASSERT_EQ(e2.outbox().jobs.size(), 1u);
  EXPECT_EQ(e2.outbox().jobs[0].energy.gpu, Microjoules(10'000'000));
  EXPECT_EQ(e2.outbox().jobs[0].exit_code, -1);
  EXPECT_THAT(e2.outbox().jobs[0].report_json, ::testing::HasSubstr("node restarted"));
  EXPECT_EQ(e2.outbox().jobs[0].end, ledger::from_us(saved.wall_us));
}

TEST_F(Fixture, AJobWhoseCgroupVanishedIsEndedAtTheNextBoundary) {
  Node node(clock);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  e.start(std::nullopt, "boot-1");
  set_cpu("/job_7", 0s);
  auto j = job("7", {"GPU-b"}, "/job_7");
  ASSERT_TRUE(e.job_start(j));
  clock.advance(1s);
  node.add(0, 5, 0);
  cpu.erase("/job_7");
  e.boundary();
  EXPECT_TRUE(e.jobs().empty());
  ASSERT_EQ(e.outbox().jobs.size(), 1u);
  EXPECT_EQ(e.outbox().jobs[0].energy.gpu, Microjoules(5'000'000));
  EXPECT_EQ(e.outbox().jobs[0].exit_code, -1);
  // The epilog's job_end arrives late: its exit code is taken, nothing is charged again.
  ASSERT_TRUE(e.job_end(JobEnd{j.key, 0, 0}));
  EXPECT_EQ(e.outbox().jobs.size(), 1u);
  EXPECT_EQ(e.outbox().jobs[0].exit_code, 0);
}

TEST_F(Fixture, RegistrationErrors) {
  Node node(clock);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  e.start(std::nullopt, "boot-1");
  set_cpu("/job_1", 0s);
  ASSERT_TRUE(e.job_start(job("1", {}, "/job_1")));
  const auto again = e.job_start(job("1", {}, "/job_1"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, "invalid_field");
  const auto missing = e.job_start(job("2", {}, "/nowhere"));
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, ::testing::HasSubstr("/nowhere"));
  const auto unknown = e.job_end(JobEnd{job("3", {}, "").key, 0, 0});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, "unknown_job");
  EXPECT_EQ(e.job_owner(job("1", {}, "").key), uid_t{1000});
  EXPECT_FALSE(e.job_owner(job("3", {}, "").key));
}

TEST_F(Fixture, ASubRecordGetsItsShareOfTheParentAndIsNeverChargedAgain) {
  Node node(clock);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  e.start(std::nullopt, "boot-1");
  set_cpu("/job_1", 0s);
  set_cpu("/job_1/run", 0s);
  auto parent = job("1", {"GPU-a"}, "/job_1");
  auto sub = job("local-1", {}, "/job_1/run");
  sub.key.cluster = "local";
  sub.key.step = "run";
  ASSERT_TRUE(e.job_start(parent));
  ASSERT_TRUE(e.job_start(sub, parent.key));
  EXPECT_FALSE(e.job_start(job("2", {}, "/job_1"), job("404", {}, "").key));  // unknown parent
  clock.advance(1s);
  node.add(400, 0, 40);
  set_cpu("/job_1", 2s);      // half of 4 CPUs: 20 J of the package
  set_cpu("/job_1/run", 1s);  // half of the job's CPU time
  e.boundary();
  const auto rep = e.job_end(JobEnd{sub.key, 0, 1'800'000'000'000'000});
  ASSERT_TRUE(rep);
  ASSERT_TRUE(rep->parent.has_value());
  EXPECT_EQ(*rep->parent, parent.key);
  EXPECT_EQ(rep->charged.gpu, Microjoules(200'000'000));  // half of the parent's 400 J
  EXPECT_EQ(rep->charged.cpu, Microjoules(10'000'000));   // half of the parent's 20 J
  EXPECT_EQ(rep->machine.total(), Microjoules(440'000'000));
  EXPECT_TRUE(e.outbox().jobs.empty());  // no job record of its own: a step record
  ASSERT_EQ(e.outbox().steps.size(), 1u);
  const auto& step = e.outbox().steps[0];
  EXPECT_EQ(step.cluster, "local");
  EXPECT_EQ(step.job_id, "local-1");
  EXPECT_EQ(step.step, "run");
  EXPECT_EQ(step.node, "n1");
  EXPECT_EQ(step.user, "alice");
  EXPECT_EQ(step.account, "vision");
  EXPECT_EQ(step.energy.gpu, Microjoules(200'000'000));
  EXPECT_EQ(step.energy.cpu, Microjoules(10'000'000));
  EXPECT_EQ(step.energy_charged, Microjoules(210'000'000));
  EXPECT_NEAR(step.co2_kg, 210.0 / 3.6e6 * 0.6, 1e-15);
  EXPECT_EQ(step.exit_code, 0);
  EXPECT_EQ(step.end, ledger::from_us(1'800'000'000'000'000));
  const auto report = nlohmann::json::parse(step.report_json);
  EXPECT_EQ(report["parent"]["job_id"], "1");
  EXPECT_EQ(report["parent"]["step"], "batch");
  EXPECT_FALSE(ledger::invalid_step(step));
  EXPECT_EQ(e.journal().pending_steps, e.outbox().steps);  // journaled until spooled
  EXPECT_EQ(e.metrics().jobs.size(), 1u);
  const auto whole = e.job_end(JobEnd{parent.key, 0, 1'800'000'000'000'000});
  ASSERT_TRUE(whole);
  EXPECT_FALSE(whole->parent.has_value());
  ASSERT_EQ(e.outbox().jobs.size(), 1u);
  EXPECT_EQ(e.outbox().jobs[0].energy_charged, Microjoules(420'000'000));  // all of it, once
  EXPECT_EQ(e.outbox().steps.size(), 1u);
}

TEST_F(Fixture, SubRecordsTogetherNeverGetMoreThanTheirParent) {
  Node node(clock);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  e.start(std::nullopt, "boot-1");
  set_cpu("/job_1", 0s);
  set_cpu("/job_1/a", 0s);
  set_cpu("/job_1/b", 0s);
  auto parent = job("1", {"GPU-a"}, "/job_1");
  auto a = job("1", {}, "/job_1/a");
  a.key.step = "0";
  auto b = job("1", {}, "/job_1/b");
  b.key.step = "1";
  ASSERT_TRUE(e.job_start(parent));
  ASSERT_TRUE(e.job_start(a, parent.key));
  ASSERT_TRUE(e.job_start(b, parent.key));
  clock.advance(1s);
  node.add(400, 0, 40);
  // The steps' cgroups were read a moment after the job's: together they show 3 s of CPU time
  // against the job's 2 s. They share the job's energy by their own sum, 1 : 2.
  set_cpu("/job_1", 2s);
  set_cpu("/job_1/a", 1s);
  set_cpu("/job_1/b", 2s);
  e.boundary();
  const auto ra = e.job_end(JobEnd{a.key, 0, 1'800'000'000'000'000});
  const auto rb = e.job_end(JobEnd{b.key, 0, 1'800'000'000'000'000});
  ASSERT_TRUE(ra);
  ASSERT_TRUE(rb);
  const auto whole = e.job_end(JobEnd{parent.key, 0, 1'800'000'000'000'000});
  ASSERT_TRUE(whole);
  EXPECT_EQ(ra->charged.gpu, Microjoules(133'333'333));
  EXPECT_EQ(rb->charged.gpu, Microjoules(266'666'666));  // shares round down
  EXPECT_LE(ra->charged.total().value + rb->charged.total().value, whole->charged.total().value);
}

// A Slurm job as the agent sees it: the Prolog's registration (step "job", the whole allocation)
// and the SPANK plugin's steps as its sub-records.
struct SlurmJob {
  JobStart job;
  JobStart batch;
  JobStart step0;
};

SlurmJob slurm_job(const std::string& id) {
  SlurmJob s{job(id, {"GPU-a"}, "/job_" + id), job(id, {}, "/job_" + id + "/batch"),
             job(id, {}, "/job_" + id + "/step_0")};
  s.job.key.step = "job";
  s.batch.key.step = "batch";
  s.step0.key.step = "0";
  return s;
}

TEST_F(Fixture, EndingAJobEndsItsStepsAndTheirRecordsGoToTheOutboxSteps) {
  Node node(clock);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  e.start(std::nullopt, "boot-1");
  const auto s = slurm_job("5");
  for (const auto& j : {s.job, s.batch, s.step0}) set_cpu(j.cgroup, 0s);
  ASSERT_TRUE(e.job_start(s.job));
  ASSERT_TRUE(e.job_start(s.batch, s.job.key));
  ASSERT_TRUE(e.job_start(s.step0, s.job.key));
  clock.advance(1s);
  node.add(400, 0, 40);
  set_cpu(s.job.cgroup, 2s);       // half of 4 CPUs: 20 J of the package
  set_cpu(s.batch.cgroup, 1s);     // half of the job's CPU time
  set_cpu(s.step0.cgroup, 500ms);  // a quarter
  const auto end_us =
      std::chrono::duration_cast<std::chrono::microseconds>(clock.wall().time_since_epoch())
          .count();
  ASSERT_TRUE(e.job_end(JobEnd{s.job.key, 0, end_us}));
  EXPECT_TRUE(e.jobs().empty());
  ASSERT_EQ(e.outbox().jobs.size(), 1u);
  EXPECT_EQ(e.outbox().jobs[0].step, "job");
  EXPECT_EQ(e.outbox().jobs[0].energy_charged, Microjoules(420'000'000));
  ASSERT_EQ(e.outbox().steps.size(), 2u);
  const auto& batch = e.outbox().steps[0];
  const auto& step0 = e.outbox().steps[1];
  EXPECT_EQ(batch.step, "batch");
  EXPECT_EQ(batch.job_id, "5");
  EXPECT_EQ(batch.submit_time, e.outbox().jobs[0].submit_time);
  EXPECT_EQ(batch.energy.gpu, Microjoules(200'000'000));
  EXPECT_EQ(batch.energy.cpu, Microjoules(10'000'000));
  EXPECT_EQ(step0.step, "0");
  EXPECT_EQ(step0.energy.gpu, Microjoules(100'000'000));
  EXPECT_EQ(step0.energy.cpu, Microjoules(5'000'000));
  EXPECT_NEAR(step0.co2_kg, 105.0 / 3.6e6 * 0.6, 1e-15);
  for (const auto& st : e.outbox().steps) {
    EXPECT_EQ(st.exit_code, -1);  // no end message of its own
    EXPECT_EQ(st.end, ledger::from_us(end_us));
    EXPECT_THAT(st.report_json, ::testing::HasSubstr("ended with its job (5 step job)"));
  }
}

TEST_F(Fixture, AStepsOwnEndGivesItsExitCodeAndAGoneJobEndsItsSteps) {
  Node node(clock);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  e.start(std::nullopt, "boot-1");
  const auto s = slurm_job("6");
  for (const auto& j : {s.job, s.batch, s.step0}) set_cpu(j.cgroup, 0s);
  ASSERT_TRUE(e.job_start(s.job));
  ASSERT_TRUE(e.job_start(s.batch, s.job.key));
  ASSERT_TRUE(e.job_start(s.step0, s.job.key));
  clock.advance(1s);
  node.add(80, 0, 0);
  set_cpu(s.job.cgroup, 4s);
  set_cpu(s.step0.cgroup, 1s);
  ASSERT_TRUE(e.job_end(JobEnd{s.step0.key, 7, 1'800'000'000'000'000}));
  ASSERT_EQ(e.outbox().steps.size(), 1u);
  EXPECT_EQ(e.outbox().steps[0].exit_code, 7);
  EXPECT_EQ(e.outbox().steps[0].energy.gpu, Microjoules(20'000'000));  // a quarter of 80 J
  EXPECT_TRUE(e.outbox().jobs.empty());
  e.clear_outbox();
  // The job's cgroup disappears: the job ends at the boundary, and its remaining step with it.
  clock.advance(1s);
  node.add(40, 0, 0);
  set_cpu(s.batch.cgroup, 2s);
  cpu.erase(s.job.cgroup);
  e.boundary();
  EXPECT_TRUE(e.jobs().empty());
  ASSERT_EQ(e.outbox().jobs.size(), 1u);
  EXPECT_EQ(e.outbox().jobs[0].energy_charged, Microjoules(120'000'000));
  ASSERT_EQ(e.outbox().steps.size(), 1u);
  EXPECT_EQ(e.outbox().steps[0].step, "batch");
  EXPECT_EQ(e.outbox().steps[0].exit_code, -1);
  // No share: no CPU time of its own in the first second, and in the second its job's CPU time
  // could not be read (the cgroup was gone), so there was nothing to take a share of.
  EXPECT_EQ(e.outbox().steps[0].energy_charged, Microjoules(0));
}

TEST_F(Fixture, AStepWhoseCgroupVanishedTakesItsLateExitCode) {
  Node node(clock);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  e.start(std::nullopt, "boot-1");
  const auto s = slurm_job("8");
  for (const auto& j : {s.job, s.batch}) set_cpu(j.cgroup, 0s);
  ASSERT_TRUE(e.job_start(s.job));
  ASSERT_TRUE(e.job_start(s.batch, s.job.key));
  clock.advance(1s);
  node.add(60, 0, 0);
  set_cpu(s.job.cgroup, 3s);
  set_cpu(s.batch.cgroup, 1s);
  e.boundary();
  cpu.erase(s.batch.cgroup);  // the step's processes are gone; the job goes on
  clock.advance(1s);
  e.boundary();
  ASSERT_EQ(e.jobs().size(), 1u);
  ASSERT_EQ(e.outbox().steps.size(), 1u);
  EXPECT_EQ(e.outbox().steps[0].exit_code, -1);
  EXPECT_EQ(e.outbox().steps[0].energy.gpu, Microjoules(20'000'000));  // a third of 60 J
  // The step's end message arrives late: its exit code is taken, nothing is charged again.
  const auto late = e.job_end(JobEnd{s.batch.key, 9, 0});
  ASSERT_TRUE(late);
  EXPECT_EQ(late->charged.gpu, Microjoules(20'000'000));
  ASSERT_EQ(e.outbox().steps.size(), 1u);
  EXPECT_EQ(e.outbox().steps[0].exit_code, 9);
  EXPECT_TRUE(e.outbox().jobs.empty());
}

TEST_F(Fixture, StepsSurviveARestartAndAfterARebootASubRecordIsAStepNotAJob) {
  Node node(clock);
  const auto s = slurm_job("7");
  for (const auto& j : {s.job, s.batch, s.step0}) set_cpu(j.cgroup, 0s);
  Engine e1(*node.meter, clock, machine, config(), reader(), carbon());
  e1.start(std::nullopt, "boot-1");
  ASSERT_TRUE(e1.job_start(s.job));
  ASSERT_TRUE(e1.job_start(s.batch, s.job.key));
  ASSERT_TRUE(e1.job_start(s.step0, s.job.key));
  clock.advance(1s);
  node.add(100, 0, 0);
  set_cpu(s.job.cgroup, 2s);
  set_cpu(s.batch.cgroup, 1s);
  ASSERT_TRUE(e1.job_end(JobEnd{s.step0.key, 0, 0}));  // its record not yet spooled
  const auto saved = e1.journal();
  ASSERT_EQ(saved.pending_steps.size(), 1u);

  // Same boot: the pending step record is delivered after the restart.
  Node same(clock);
  *same.gpu = *node.gpu;
  *same.rapl = *node.rapl;
  Engine e2(*same.meter, clock, machine, config(), reader(), carbon());
  e2.start(saved, "boot-1");
  EXPECT_EQ(e2.outbox().steps, saved.pending_steps);
  EXPECT_EQ(e2.jobs().size(), 2u);

  // Another boot: the job and its batch step end with what was measured; the step stays a step.
  Node after(clock);
  Engine e3(*after.meter, clock, machine, config(), reader(), carbon());
  e3.start(saved, "boot-2");
  ASSERT_EQ(e3.outbox().jobs.size(), 1u);
  EXPECT_EQ(e3.outbox().jobs[0].step, "job");
  EXPECT_EQ(e3.outbox().jobs[0].energy.gpu, Microjoules(100'000'000));
  ASSERT_EQ(e3.outbox().steps.size(), 2u);
  EXPECT_EQ(e3.outbox().steps[0], saved.pending_steps[0]);
  EXPECT_EQ(e3.outbox().steps[1].step, "batch");
  EXPECT_EQ(e3.outbox().steps[1].energy.gpu, Microjoules(50'000'000));
  EXPECT_EQ(e3.outbox().steps[1].exit_code, -1);
}

TEST_F(Fixture, ASubRecordTheLedgerCannotTakeAsAStepIsNotPutInTheOutbox) {
  Node node(clock);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  e.start(std::nullopt, "boot-1");
  set_cpu("/job_1", 0s);
  set_cpu("/job_1/x", 0s);
  auto parent = job("1", {}, "/job_1");
  auto inner = job("2", {}, "/job_1/x");
  inner.key.step = "job";  // a Prolog's registration inside another job: not a step
  ASSERT_TRUE(e.job_start(parent));
  ASSERT_TRUE(e.job_start(inner, parent.key));
  ASSERT_TRUE(e.job_end(JobEnd{inner.key, 0, 0}));
  EXPECT_TRUE(e.outbox().steps.empty());
  EXPECT_TRUE(e.outbox().jobs.empty());
}

TEST_F(Fixture, GpuIndicesFromAPrologAreMappedToTheNodesUuids) {
  Node node(clock);
  Engine e(*node.meter, clock, machine, config(), reader(), carbon());
  e.start(std::nullopt, "boot-1");
  auto j = job("8", {}, "/job_8");
  set_cpu("/job_8", 0s);
  j.gpu_indices = {1};
  ASSERT_TRUE(e.job_start(j));
  ASSERT_EQ(e.jobs().size(), 1u);
  EXPECT_EQ(e.jobs()[0].job.gpus, std::vector<std::string>{"GPU-b"});
  clock.advance(1s);
  node.add(7, 9, 0);
  const auto rep = e.job_end(JobEnd{j.key, 0, 1'800'000'000'000'000});
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->charged.gpu, Microjoules(9'000'000));  // GPU 1 is GPU-b
  auto bad = job("9", {}, "/job_8");
  bad.gpu_indices = {5};
  const auto refused = e.job_start(bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "gpu_indices[0]: this node has no GPU 5");
}

}  // namespace
}  // namespace jobcarbon::agent
