#include <jobcarbon/attribution/attributor.hpp>

#include <random>

#include <gtest/gtest.h>

namespace jobcarbon::attribution {
namespace {

using namespace std::chrono_literals;
using sensors::Channel;
using sensors::Domain;

Channel ch(std::string id, Domain d, std::string device = "", bool additive = true) {
  Channel c;
  c.id = std::move(id);
  c.domain = d;
  c.device = std::move(device);
  c.additive = additive;
  return c;
}

energy::Interval interval_of(std::vector<std::int64_t> uj) {
  energy::Interval iv;
  for (auto v : uj) iv.energy.emplace_back(v);
  iv.covered.assign(uj.size(), Duration(1s));
  return iv;
}

TEST(Attributor, SharedNodeGpuByDeviceCpuByShare) {
  const Attributor a({ch("gpu0", Domain::kGpu, "GPU-a"), ch("gpu1", Domain::kGpu, "GPU-b"),
                      ch("pkg0", Domain::kCpuPackage), ch("dram0", Domain::kDram),
                      ch("core0", Domain::kOther, "", false)});
  // 1 s on 4 CPUs: job A used 1 CPU-second (25 %), job B 2 CPU-seconds (50 %).
  const MachineUsage m{4s, 3s, 0};
  const std::vector<JobUsage> jobs{{1s, 0, {"GPU-a"}, false}, {2s, 0, {"GPU-b"}, false}};
  Attribution out;
  a.attribute(interval_of({300'000'000, 200'000'000, 100'000'001, 40'000'000, 999}), m, jobs, out);
  EXPECT_EQ(out.jobs[0][Domain::kGpu], Microjoules(300'000'000));
  EXPECT_EQ(out.jobs[1][Domain::kGpu], Microjoules(200'000'000));
  EXPECT_EQ(out.jobs[0][Domain::kCpuPackage], Microjoules(25'000'000));  // floor(100000001/4)
  EXPECT_EQ(out.jobs[1][Domain::kCpuPackage], Microjoules(50'000'000));
  EXPECT_EQ(out.unallocated[Domain::kCpuPackage], Microjoules(25'000'001));
  EXPECT_EQ(out.jobs[0][Domain::kDram], Microjoules(10'000'000));
  EXPECT_EQ(out.machine.total(), Microjoules(640'000'001));  // core0 is inside pkg0: not added
  EXPECT_EQ(out.jobs[0].total() + out.jobs[1].total() + out.unallocated.total(),
            out.machine.total());
}

TEST(Attributor, UnusedGpuIsUnallocated) {
  const Attributor a({ch("gpu0", Domain::kGpu, "GPU-a"), ch("gpu1", Domain::kGpu, "GPU-b")});
  const std::vector<JobUsage> jobs{{0s, 0, {"GPU-a"}, false}};
  Attribution out;
  a.attribute(interval_of({70, 30}), MachineUsage{1s, 0s, 0}, jobs, out);
  EXPECT_EQ(out.jobs[0][Domain::kGpu], Microjoules(70));
  EXPECT_EQ(out.unallocated[Domain::kGpu], Microjoules(30));
}

TEST(Attributor, ExclusiveJobGetsTheWholeMachine) {
  const Attributor a({ch("gpu0", Domain::kGpu, "GPU-a"), ch("pkg0", Domain::kCpuPackage)});
  const std::vector<JobUsage> jobs{{0s, 0, {}, true}};
  Attribution out;
  a.attribute(interval_of({70, 30}), MachineUsage{1s, 0s, 0}, jobs, out);
  EXPECT_EQ(out.jobs[0].total(), Microjoules(100));
  EXPECT_EQ(out.unallocated.total(), Microjoules(0));
}

TEST(Attributor, NodeMeterIsTheTotalAndComponentsABreakdown) {
  const Attributor a({ch("node", Domain::kNode), ch("gpu0", Domain::kGpu, "GPU-a"),
                      ch("pkg0", Domain::kCpuPackage)});
  ASSERT_TRUE(a.has_node_meter());
  const std::vector<JobUsage> jobs{{1s, 0, {"GPU-a"}, false}};
  Attribution out;
  // Node 1000 J = GPU 500 + CPU 300 + rest 200. Job has half the CPU capacity.
  a.attribute(interval_of({1000, 500, 300}), MachineUsage{2s, 1s, 0}, jobs, out);
  EXPECT_EQ(out.machine.total(), Microjoules(1000));
  EXPECT_EQ(out.machine[Domain::kNode], Microjoules(200));
  EXPECT_EQ(out.jobs[0].total(), Microjoules(500 + 150 + 100));
  // Components larger than the node: the rest is 0, nothing negative.
  a.attribute(interval_of({700, 500, 300}), MachineUsage{2s, 1s, 0}, jobs, out);
  EXPECT_EQ(out.machine[Domain::kNode], Microjoules(0));
  EXPECT_EQ(out.machine.total(), Microjoules(800));
}

TEST(Attributor, EstimatedCpuChargesCpuTimeTimesPower) {
  const Attributor a({ch("est", Domain::kEstimatedCpu), ch("mem", Domain::kEstimatedMemory)});
  // Machine busy 3 CPU-s at 10 W/core = 30 J; job used 1 CPU-s → 10 J.
  const std::vector<JobUsage> jobs{{1s, 1 << 30, {}, false}};
  Attribution out;
  a.attribute(interval_of({30'000'000, 8'000'000}), MachineUsage{8s, 3s, 4LL << 30}, jobs, out);
  EXPECT_EQ(out.jobs[0][Domain::kEstimatedCpu], Microjoules(10'000'000));
  EXPECT_EQ(out.jobs[0][Domain::kEstimatedMemory], Microjoules(2'000'000));
}

TEST(Attributor, OversubscribedSharesNeverExceedTheWhole) {
  const Attributor a({ch("pkg0", Domain::kCpuPackage)});
  // Jobs' CPU time read slightly after the machine's: 5 s on a 4 s capacity.
  const std::vector<JobUsage> jobs{{3s, 0, {}, false}, {2s, 0, {}, false}};
  Attribution out;
  a.attribute(interval_of({1000}), MachineUsage{4s, 4s, 0}, jobs, out);
  EXPECT_EQ(out.jobs[0].total(), Microjoules(600));
  EXPECT_EQ(out.jobs[1].total(), Microjoules(400));
  EXPECT_EQ(out.unallocated.total(), Microjoules(0));
}

// Property: for random channels, energies and usages, jobs + unallocated = machine exactly, per
// domain, and no part is negative.
TEST(Attributor, EnergyIsConservedExactly) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 2000; ++round) {
    std::vector<Channel> chans;
    std::vector<std::int64_t> uj;
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < n; ++i) {
      const auto d = static_cast<Domain>(rng() % 7);
      chans.push_back(
          ch("c" + std::to_string(i), d, "GPU-" + std::to_string(rng() % 3), rng() % 5 != 0));
      uj.push_back(static_cast<std::int64_t>(rng() % 5'000'000'000'000ULL));
    }
    std::vector<JobUsage> jobs(rng() % 4);
    for (auto& j : jobs) {
      j.cpu_time = Duration(static_cast<std::int64_t>(rng() % 10'000'000'000ULL));
      j.rss_bytes = static_cast<std::int64_t>(rng() % (1LL << 34));
      j.gpus = {"GPU-" + std::to_string(rng() % 3)};
      j.exclusive = rng() % 10 == 0;
    }
    const Attributor a(chans);
    Attribution out;
    a.attribute(interval_of(uj),
                MachineUsage{Duration(static_cast<std::int64_t>(rng() % 20'000'000'000ULL)),
                             Duration(static_cast<std::int64_t>(rng() % 20'000'000'000ULL)),
                             static_cast<std::int64_t>(rng() % (1LL << 35))},
                jobs, out);
    for (std::size_t d = 0; d < 7; ++d) {
      Microjoules sum = out.unallocated.by_domain[d];
      EXPECT_GE(out.unallocated.by_domain[d], Microjoules(0));
      for (const auto& j : out.jobs) {
        EXPECT_GE(j.by_domain[d], Microjoules(0));
        sum += j.by_domain[d];
      }
      ASSERT_EQ(sum, out.machine.by_domain[d]) << "round " << round << " domain " << d;
    }
  }
}

}  // namespace
}  // namespace jobcarbon::attribution
