#include <jobcarbon/enforce/enforcer.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include <jobcarbon/ledger/budget_check.hpp>
#include <jobcarbon/ledger/sqlite_store.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/mutate.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::enforce {
namespace {

using namespace std::chrono_literals;
using Kind = Step::Kind;
using State = SlurmJob::State;

const policy::WallTime kNow = policy::WallTime(std::chrono::seconds(1'790'000'000));

ChargedJob job(const std::string& id, State state, std::vector<std::string> chain,
               const std::string& user = "ada") {
  return {SlurmJob{id, state, chain.front(), user, ""}, std::move(chain)};
}

TEST(PlanRound, ARunningJobOverItsLimitIsSignalledThenCancelledAfterTheGrace) {
  const std::vector<ChargedJob> jobs{job("10", State::kRunning, {"vision"})};
  const std::vector<StopLimit> limits{{"vision", "", true, ""}};
  EnforcerState state;
  EXPECT_EQ(plan_round(jobs, limits, state, kNow, 300s),
            (std::vector<Step>{{Kind::kSignal, "10", "vision"}}));
  after_step(state, {Kind::kSignal, "10", "vision"}, kNow);
  EXPECT_EQ(state.signalled_us.at("10"), 1'790'000'000'000'000);
  // Within the grace period: nothing; at its end: cancel.
  EXPECT_TRUE(plan_round(jobs, limits, state, kNow + 299s, 300s).empty());
  EXPECT_EQ(plan_round(jobs, limits, state, kNow + 300s, 300s),
            (std::vector<Step>{{Kind::kCancel, "10", "vision"}}));
  // A clock that went back counts as no time elapsed.
  EXPECT_TRUE(plan_round(jobs, limits, state, kNow - 1h, 300s).empty());
}

TEST(PlanRound, JobsWithinTheirLimitsOrWithoutAStopBudgetAreLeftAlone) {
  const std::vector<ChargedJob> jobs{job("1", State::kRunning, {"nlp"}),
                                     job("2", State::kRunning, {"vision"}),
                                     job("3", State::kPending, {"vision"})};
  const std::vector<StopLimit> limits{{"vision", "", false, ""}};
  EXPECT_TRUE(plan_round(jobs, limits, {}, kNow, 300s).empty());
}

TEST(PlanRound, AParentsLimitCoversTheSubAccountsJobs) {
  const std::vector<ChargedJob> jobs{job("7", State::kRunning, {"vision-3d", "vision", "lab"}),
                                     job("8", State::kRunning, {"nlp", "lab2"})};
  const std::vector<StopLimit> limits{{"vision", "", true, ""}};
  EXPECT_EQ(plan_round(jobs, limits, {}, kNow, 60s),
            (std::vector<Step>{{Kind::kSignal, "7", "vision"}}));
}

TEST(PlanRound, AUsersOwnBudgetCoversOnlyThatUsersJobs) {
  const std::vector<ChargedJob> jobs{job("1", State::kRunning, {"vision"}, "ada"),
                                     job("2", State::kRunning, {"vision"}, "bob")};
  const std::vector<StopLimit> limits{{"vision", "bob", true, ""}};
  EXPECT_EQ(plan_round(jobs, limits, {}, kNow, 60s),
            (std::vector<Step>{{Kind::kSignal, "2", "vision (user bob)"}}));
}

TEST(PlanRound, PendingJobsAreHeldAndReleasedWhenTheLimitIsRaised) {
  const std::vector<ChargedJob> jobs{job("5", State::kPending, {"vision"})};
  EnforcerState state;
  const std::vector<StopLimit> over{{"vision", "", true, ""}};
  EXPECT_EQ(plan_round(jobs, over, state, kNow, 60s),
            (std::vector<Step>{{Kind::kHold, "5", "vision"}}));
  after_step(state, {Kind::kHold, "5", "vision"}, kNow);
  EXPECT_TRUE(plan_round(jobs, over, state, kNow, 60s).empty());  // held once
  const std::vector<StopLimit> raised{{"vision", "", false, ""}};
  EXPECT_EQ(plan_round(jobs, raised, state, kNow, 60s),
            (std::vector<Step>{{Kind::kRelease, "5", "vision"}}));
  after_step(state, {Kind::kRelease, "5", "vision"}, kNow);
  EXPECT_TRUE(state.held.empty());
}

TEST(PlanRound, PendingJobsHeldBySomeoneElseAreNotReleased) {
  const std::vector<ChargedJob> jobs{job("5", State::kPending, {"vision"})};
  EXPECT_TRUE(plan_round(jobs, std::vector<StopLimit>{}, {}, kNow, 60s).empty());
}

TEST(ForgetSettled, EndedJobsAndJobsBackWithinTheirLimitAreForgotten) {
  EnforcerState state{{{"1", 5}, {"2", 6}, {"3", 7}}, {{"4", "vision"}, {"9", "vision"}}};
  const std::vector<ChargedJob> live{job("1", State::kRunning, {"vision"}),
                                     job("2", State::kRunning, {"nlp"}),
                                     job("4", State::kPending, {"vision"})};
  const std::vector<StopLimit> limits{{"vision", "", true, ""}, {"nlp", "", false, ""}};
  forget_settled(state, live, limits);
  // 1: still over; 2: nlp is within its limit again (a new crossing signals it again); 3 and 9
  // left the queue.
  EXPECT_EQ(state, (EnforcerState{{{"1", 5}}, {{"4", "vision"}}}));
}

TEST(EnforcerState, RoundTripsAndNamesWhatIsWrong) {
  const EnforcerState s{{{"12", 1'790'000'000'000'000}, {"13_4", -1}},
                        {{"14", "vision (user bob)"}}};
  auto back = parse_state(serialize_state(s));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, s);
  EXPECT_EQ(parse_state("[]").error(), "enforcer state: not a JSON object");
  EXPECT_EQ(parse_state(R"({"version":2,"signalled":{},"held":{}})").error(),
            "enforcer state: 'version' is not 1");
  EXPECT_EQ(parse_state(R"({"version":1,"signalled":{"12":"soon"},"held":{}})").error(),
            "enforcer state: 'signalled' of job 12 is not an integer");
  EXPECT_EQ(parse_state(R"({"version":1,"signalled":{}})").error(),
            "enforcer state: 'held' is not an object");
  EXPECT_EQ(parse_state(R"({"version":1,"signalled":{},"held":{"":"x"}})").error(),
            "enforcer state: a job id in 'held' is empty");
}

TEST(EnforcerState, MutatedFilesAreRejectedOrRoundTrip) {
  const EnforcerState s{{{"12", 1'790'000'000'000'000}, {"13", 7}}, {{"14", "vision"}}};
  const std::string text = serialize_state(s);
  std::mt19937_64 rng(5);
  int accepted = 0;
  for (int i = 0; i < 5000; ++i) {
    const auto damaged = testing::mutate_bytes(text, rng, "{}[]\":,0123456789-");
    auto parsed = parse_state(damaged);
    if (!parsed) {
      EXPECT_TRUE(parsed.error().starts_with("enforcer state: ")) << parsed.error();
      continue;
    }
    ++accepted;
    auto again = parse_state(serialize_state(*parsed));
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *parsed);
  }
  EXPECT_GT(accepted, 0);
}

TEST(ParseSqueue, ReadsJobsAndNamesABadLine) {
  auto jobs = parse_squeue(
      "12|RUNNING|vision|ada|None\n13_4|PENDING|nlp|bob|Priority\n\n"
      "14|COMPLETING|vision|ada|None\n");
  ASSERT_TRUE(jobs) << jobs.error();
  ASSERT_EQ(jobs->size(), 3u);
  EXPECT_EQ((*jobs)[0], (SlurmJob{"12", State::kRunning, "vision", "ada", "None"}));
  EXPECT_EQ((*jobs)[1], (SlurmJob{"13_4", State::kPending, "nlp", "bob", "Priority"}));
  EXPECT_EQ((*jobs)[2].state, State::kOther);
  EXPECT_EQ(parse_squeue("12|RUNNING|vision|ada|None\nx|y\n").error(),
            "squeue output line 2: expected 5 fields separated by '|', got 2: 'x|y'");
  EXPECT_EQ(parse_squeue("|RUNNING|vision|ada|None").error(),
            "squeue output line 1: the job id is empty");
  EXPECT_TRUE(parse_squeue("")->empty());
}

TEST(ParseSqueue, RandomBytesNeverCrashAndAcceptedLinesHaveFiveFields) {
  std::mt19937_64 rng(11);
  const std::string text = "12|RUNNING|vision|ada|None\n13|PENDING|nlp|bob|Priority\n";
  for (int i = 0; i < 5000; ++i) {
    const auto damaged = testing::mutate_bytes(text, rng, "|\n\r");
    auto jobs = parse_squeue(damaged);
    if (!jobs) {
      EXPECT_TRUE(jobs.error().starts_with("squeue output line ")) << jobs.error();
      continue;
    }
    for (const auto& j : *jobs) {
      EXPECT_FALSE(j.id.empty());
      EXPECT_EQ(j.id.find('|'), std::string::npos);
      EXPECT_EQ(j.reason.find('\n'), std::string::npos);
    }
  }
}

// A queue kept in memory, recording what the enforcer did (the e2e test drives real Slurm).
class RecordingCluster final : public Cluster {
 public:
  std::vector<SlurmJob> queue;
  std::vector<std::string> actions;
  bool fail_queue = false;
  std::expected<std::vector<SlurmJob>, std::string> jobs() override {
    if (fail_queue) return std::unexpected("squeue: no answer within 10 s");
    return queue;
  }
  std::expected<void, std::string> signal(const std::string& job, const std::string& s) override {
    actions.push_back("signal " + s + " " + job);
    return {};
  }
  std::expected<void, std::string> cancel(const std::string& job) override {
    actions.push_back("cancel " + job);
    return {};
  }
  std::expected<void, std::string> hold(const std::string& job) override {
    actions.push_back("hold " + job);
    return {};
  }
  std::expected<void, std::string> release(const std::string& job) override {
    if (job == "broken") return std::unexpected("job broken: scontrol release failed (exit 1)");
    actions.push_back("release " + job);
    return {};
  }
};

class RunRound : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ledger::open_sqlite_store(dir_ / "ledger.db", ledger::OpenMode::kReadWrite);
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(*s);
    year_ = *ledger::budget_year_now(*store_, now_);
  }
  void set_limit(const std::string& account, double kg, policy::Policy p) {
    ledger::BudgetRecord b;
    b.account = account;
    b.year = year_;
    b.limit_kg = KgCo2{kg};
    b.policy = p;
    ASSERT_TRUE(store_->set_budget(b, std::nullopt, "admin"));
  }
  // A running job of ACCOUNT that has so far emitted about 0.16 kg (400 W for an hour at 0.4).
  void running(const std::string& id, const std::string& account) {
    auto r = ledger::testing::sample_running(
        id, std::chrono::time_point_cast<std::chrono::microseconds>(now_ - 2h), 1h);
    r.account = account;
    ASSERT_TRUE(store_->update_running(r));
  }
  std::vector<std::string> round(EnforcerState& state, policy::WallTime at) {
    std::vector<std::string> log;
    auto r = run_round(*store_, cluster_, state, {"USR1", 120s, false}, at,
                       [&](const std::string& l) { log.push_back(l); });
    EXPECT_TRUE(r) << r.error();
    return log;
  }
  jobcarbon::testing::TempDir dir_;
  std::unique_ptr<ledger::Store> store_;
  RecordingCluster cluster_;
  policy::WallTime now_ = std::chrono::system_clock::now();
  int year_ = 0;
};

TEST_F(RunRound, CrossingByRunningUsageSignalsCancelsAndHoldsThenReleasesWhenRaised) {
  set_limit("vision", 0.1, policy::Policy::kStop);  // the running job's 0.16 kg crosses it
  set_limit("nlp", 0.1, policy::Policy::kDeny);     // deny budgets are not the enforcer's
  running("10", "vision");
  running("11", "nlp");
  cluster_.queue = {{"10", State::kRunning, "vision", "ada", "None"},
                    {"11", State::kRunning, "nlp", "ada", "None"},
                    {"12", State::kPending, "vision", "bob", "Priority"}};
  EnforcerState state;
  auto log = round(state, now_);
  EXPECT_EQ(cluster_.actions, (std::vector<std::string>{"signal USR1 10", "hold 12"}));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0],
            "account vision used 0 kg + 0.16 kg running of its 0.1 kg CO2 budget: sent SIGUSR1 to "
            "job 10 (user ada) to save its checkpoint; it is cancelled in 120 s unless the budget "
            "is raised");
  round(state, now_ + 60s);  // within the grace period
  EXPECT_EQ(cluster_.actions.size(), 2u);
  round(state, now_ + 120s);
  EXPECT_EQ(cluster_.actions.back(), "cancel 10");
  // The job left the queue; the budget is raised: the held job is released, nothing remembered.
  cluster_.queue.erase(cluster_.queue.begin());
  set_limit("vision", 5, policy::Policy::kStop);
  round(state, now_ + 180s);
  EXPECT_EQ(cluster_.actions.back(), "release 12");
  EXPECT_EQ(state, EnforcerState{});
}

TEST_F(RunRound, AnUnreadableQueueOrLedgerDoesNothing) {
  set_limit("vision", 0.1, policy::Policy::kStop);
  running("10", "vision");
  cluster_.queue = {{"10", State::kRunning, "vision", "ada", "None"}};
  cluster_.fail_queue = true;
  EnforcerState state;
  auto r = run_round(*store_, cluster_, state, {}, now_, [](const std::string&) {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "squeue: no answer within 10 s");
  EXPECT_TRUE(cluster_.actions.empty());
  EXPECT_EQ(state, EnforcerState{});
}

TEST_F(RunRound, DryRunChangesNothing) {
  set_limit("vision", 0.1, policy::Policy::kStop);
  running("10", "vision");
  cluster_.queue = {{"10", State::kRunning, "vision", "ada", "None"}};
  EnforcerState state;
  std::vector<std::string> log;
  ASSERT_TRUE(run_round(*store_, cluster_, state, {"USR1", 60s, true}, now_,
                        [&](const std::string& l) { log.push_back(l); }));
  EXPECT_TRUE(cluster_.actions.empty());
  ASSERT_EQ(log.size(), 1u);
  EXPECT_TRUE(log[0].starts_with("(dry run) account vision")) << log[0];
  EXPECT_EQ(state, EnforcerState{});
}

TEST_F(RunRound, AFailedActionIsLoggedAndRetriedNextRound) {
  EnforcerState state{{}, {{"broken", "vision"}}};
  cluster_.queue = {{"broken", State::kPending, "vision", "ada", "None"}};
  std::vector<std::string> log;
  ASSERT_TRUE(run_round(*store_, cluster_, state, {}, now_,
                        [&](const std::string& l) { log.push_back(l); }));
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0],
            "account vision is within its limit again: could not act: job broken: scontrol "
            "release failed (exit 1)");
  EXPECT_EQ(state.held.size(), 1u);  // still held: the next round tries again
}

}  // namespace
}  // namespace jobcarbon::enforce
