#include <jobcarbon/agent/journal.hpp>

#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace jobcarbon::agent {
namespace {

using ::testing::HasSubstr;

JournalState sample_state() {
  JournalState s;
  s.boot_id = "0f3c5e8a-6a51-4a2e-9d6e-2b7c1f0e9a11";
  s.mono_ns = 123'456'789'012;
  s.wall_us = 1'790'000'000'123'456;
  s.readings = {{"rapl:intel-rapl:0", 262'143'000'000}, {"nvml:GPU-a", 9'007'199'254'740'993}};
  s.machine_busy = Duration(987'654'321'000);
  JobState j;
  j.job.key = JobKey{"c1", "42", 1'700'000'000'000'000, "batch"};
  j.job.user = "bob \"the\" builder";
  j.job.uid = 1001;
  j.job.account = "vision";
  j.job.gpus = {"GPU-a"};
  j.job.cgroup = "/system.slice/slurmstepd.scope/job_42";
  j.job.tags = {{"exp", "resnet50"}};
  j.start = ledger::from_us(1'790'000'000'000'000);
  j.charged.by_domain[0] = Microjoules(9'007'199'254'740'993);  // beyond a double's integers
  j.machine.by_domain[1] = Microjoules(5);
  j.unallocated.by_domain[1] = Microjoules(4);
  j.cpu_time = Duration(1'000'000'001);
  j.last_cpu = Duration(77);
  j.co2_kg = 0.123456789012345;
  s.jobs.push_back(j);
  j.job.key.job_id = "43";
  j.last_cpu.reset();
  j.parent = JobKey{"c1", "42", 1'700'000'000'000'000, "batch"};
  s.jobs.push_back(j);
  s.idle_open =
      ledger::NodeIdle{"c1", "n1", ledger::from_us(1), ledger::from_us(2), Microjoules(3)};
  ledger::JobRecord r;
  r.job_id = "41";
  r.node = "n1";
  r.step = "batch";
  r.energy.gpu = Microjoules(10);
  r.energy_charged = Microjoules(10);
  r.method = "measured";
  s.pending_jobs.push_back(r);
  s.pending_idle.push_back(*s.idle_open);
  r.step = "0";
  r.energy.gpu = Microjoules(9'007'199'254'740'993);
  r.energy_charged = r.energy.gpu;
  r.exit_code = -1;
  r.report_json = R"({"parent":{"step":"job"}})";
  s.pending_steps.push_back(r);
  return s;
}

TEST(Journal, RoundTripsExactly) {
  const auto s = sample_state();
  const auto back = parse_journal(serialize_journal(s));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, s);
  const JournalState empty;
  const auto e = parse_journal(serialize_journal(empty));
  ASSERT_TRUE(e) << e.error();
  EXPECT_EQ(*e, empty);
}

// pending_steps came after version 1 was released: a journal written before it (no such field)
// still loads, with no steps, and the rest exactly; one with the field keeps its steps.
TEST(Journal, AJournalFromBeforeStepRecordsStillLoads) {
  const auto s = sample_state();
  auto j = nlohmann::json::parse(serialize_journal(s));
  ASSERT_EQ(j["version"], 1);
  ASSERT_EQ(j["pending_steps"].size(), 1u);
  EXPECT_EQ(j["pending_steps"][0]["step"], "0");
  j.erase("pending_steps");
  const auto old = parse_journal(j.dump());
  ASSERT_TRUE(old) << old.error();
  auto expected = s;
  expected.pending_steps.clear();
  EXPECT_EQ(*old, expected);
  j["pending_steps"] = {{{"job_id", 5}}};
  EXPECT_THAT(parse_journal(j.dump()).error(), HasSubstr("pending_steps[0]: "));
  j["pending_steps"] = "none";
  EXPECT_THAT(parse_journal(j.dump()).error(), HasSubstr("pending_steps: expected an array"));
}

TEST(Journal, ErrorsNameTheField) {
  EXPECT_EQ(parse_journal("{").error(), "not JSON");
  EXPECT_THAT(parse_journal(R"({"version":2})").error(), HasSubstr("version 2 is not 1"));
  auto text = serialize_journal(sample_state());
  const auto at = text.find("\"charged\":[");
  ASSERT_NE(at, std::string::npos);
  text.insert(at + 11, "-1,");
  EXPECT_THAT(parse_journal(text).error(), HasSubstr("jobs[0].charged"));
}

// Mutated journals (flipped, dropped and inserted bytes) parse or are refused with a reason;
// they never crash, and what parses serializes again.
TEST(Journal, MutationsNeverCrash) {
  const std::string good = serialize_journal(sample_state());
  std::mt19937_64 rng(20261127);
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string t = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !t.empty(); ++k) {
      const std::size_t pos = rng() % t.size();
      switch (rng() % 3) {
        case 0:
          t[pos] = static_cast<char>(rng() % 256);
          break;
        case 1:
          t.erase(pos, 1 + rng() % 8);
          break;
        default:
          t.insert(pos, 1, "{}[],:\"0-9ae"[rng() % 13]);
          break;
      }
    }
    const auto r = parse_journal(t);
    if (r) {
      ++accepted;
      EXPECT_TRUE(parse_journal(serialize_journal(*r)));
    } else {
      EXPECT_FALSE(r.error().empty());
    }
  }
  EXPECT_LT(accepted, 3000);
}

}  // namespace
}  // namespace jobcarbon::agent
