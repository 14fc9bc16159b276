#include <jobcarbon/policy/budget_policy.hpp>

#include <vector>

#include <gtest/gtest.h>

namespace jobcarbon::policy {
namespace {

using namespace std::chrono_literals;

AccountUsage level(std::string name, std::optional<double> limit_kg, double used, double running,
                   Policy policy = Policy::kDeny, std::int32_t warn_bp = 8000) {
  AccountUsage u;
  u.account = std::move(name);
  if (limit_kg) u.budget = Budget{KgCo2{*limit_kg}, std::nullopt, policy, WarnThreshold{warn_bp}};
  u.used = KgCo2{used};
  u.running = KgCo2{running};
  return u;
}

Verdict check(std::vector<AccountUsage> chain, double estimate,
              std::string_view admin = "hpc-support@example.org") {
  return check_submission(chain, KgCo2{estimate}, admin);
}

// An energy budget: the same rules on kWh (IT energy), and the message speaks of kWh.
TEST(CheckSubmission, EnergyBudgetsDecideOnKwh) {
  AccountUsage lab;
  lab.account = "lab";
  lab.budget = Budget{KgCo2{0}, 100.0, Policy::kDeny, WarnThreshold{8000}};
  lab.used = KgCo2{1000};  // CO2 is irrelevant to an energy budget
  lab.used_kwh = 60;
  lab.running_kwh = 10;
  Verdict v = check_submission(std::vector{lab}, KgCo2{5}, "", 5.0);  // 75 kWh < 80
  EXPECT_EQ(v.decision, Decision::kAllow);
  EXPECT_TRUE(v.energy);
  EXPECT_EQ(v.used_kwh, 70);
  EXPECT_EQ(*v.limit_kwh, 100);
  EXPECT_FALSE(v.limit.has_value());
  EXPECT_EQ(v.message,
            "Account lab has used 70.0 kWh (of which 10.0 kWh by running jobs) of its 100.0 kWh "
            "energy budget; this job is estimated at 5.0 kWh.");
  v = check_submission(std::vector{lab}, KgCo2{0}, "", 31.0);  // 101 kWh > 100
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_NE(v.message.find("Job refused: Account lab has used 70.0 kWh"), std::string::npos);
  // A CO2 parent and an energy child compete by total / limit: the parent at 90 % warns, the
  // child at 75 % allows; the parent decides.
  AccountUsage parent = level("dept", 1000, 850, 0);
  v = check_submission(std::vector{lab, parent}, KgCo2{50}, "", 5.0);
  EXPECT_EQ(v.decision, Decision::kWarn);
  EXPECT_EQ(v.account, "dept");
  EXPECT_FALSE(v.energy);
}

// Limit 1000 kg, warn at 80 %: the threshold is 800 kg.
TEST(CheckSubmission, AllowBelowTheThreshold) {
  const Verdict v = check({level("physics", 1000, 700, 50)}, 49);  // 799 < 800
  EXPECT_EQ(v.decision, Decision::kAllow);
  EXPECT_EQ(v.account, "physics");
  EXPECT_EQ(v.used.value, 750);
  EXPECT_EQ(v.running.value, 50);
  EXPECT_EQ(v.limit->value, 1000);
  EXPECT_EQ(v.estimate.value, 49);
  EXPECT_EQ(v.message,
            "Account physics has used 750 kg (of which 50 kg by running jobs) of its 1000 kg CO2 "
            "budget; this job is estimated at 49 kg.");
}

TEST(CheckSubmission, ExactlyAtTheThresholdWarns) {
  const Verdict v = check({level("physics", 1000, 700, 50)}, 50);  // 800 = 80 % of 1000
  EXPECT_EQ(v.decision, Decision::kWarn);
  EXPECT_EQ(v.message,
            "Warning: Account physics has used 750 kg (of which 50 kg by running jobs) of its "
            "1000 kg CO2 budget; with this job's estimated 50 kg it reaches 80% (warnings start "
            "at 80%).");
  // 80 % of 1200 kg = 960 kg exactly, though 0.8 × 1200 is not exact in binary.
  EXPECT_EQ(check({level("chem", 1200, 960, 0)}, 0).decision, Decision::kWarn);
  EXPECT_EQ(check({level("chem", 1200, 959.99, 0)}, 0).decision, Decision::kAllow);
}

TEST(CheckSubmission, ExactlyAtTheLimitWarnsAboveItDenies) {
  EXPECT_EQ(check({level("physics", 1000, 900, 50)}, 50).decision, Decision::kWarn);  // = 1000
  const Verdict v = check({level("physics", 1000, 900, 50)}, 50.5);                   // 1000.5
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_EQ(v.message,
            "Job refused: Account physics has used 950 kg (of which 50 kg by running jobs) of its "
            "1000 kg CO2 budget, and this job's estimated 50.5 kg would exceed it; ask "
            "hpc-support@example.org to raise the budget.");
  EXPECT_EQ(exit_code(v.decision), 2);
}

TEST(CheckSubmission, OverTheLimitDependsOnThePolicy) {
  const Verdict warn = check({level("bio", 100, 120, 0, Policy::kWarn)}, 5);
  EXPECT_EQ(warn.decision, Decision::kWarn);
  EXPECT_EQ(warn.message,
            "Warning: Account bio is over its 100 kg CO2 budget: 120 kg used, and this job's "
            "estimated 5 kg brings it to 125% of the limit; ask hpc-support@example.org about the "
            "budget.");
  EXPECT_EQ(check({level("bio", 100, 120, 0, Policy::kDeny)}, 5).decision, Decision::kDeny);
  EXPECT_EQ(check({level("bio", 100, 120, 0, Policy::kStop)}, 5).decision, Decision::kDeny);
  // Running jobs count: finished 90 + running 15 is already over 100.
  EXPECT_EQ(check({level("bio", 100, 90, 15, Policy::kStop)}, 0).decision, Decision::kDeny);
}

TEST(CheckSubmission, NoLimitAtAnyLevelAllows) {
  const Verdict v =
      check({level("astro", std::nullopt, 5000, 10), level("root", std::nullopt, 9e9, 0)}, 100);
  EXPECT_EQ(v.decision, Decision::kAllow);
  EXPECT_EQ(v.account, "astro");
  EXPECT_FALSE(v.limit.has_value());
  EXPECT_EQ(v.used.value, 5010);
  EXPECT_EQ(v.message, "Account astro has no CO2 budget; this job is estimated at 100 kg.");
  EXPECT_EQ(check({}, 1).decision, Decision::kAllow);
}

TEST(CheckSubmission, ParentOverItsLimitDeniesAndIsNamed) {
  // The child is well under its own limit; the parent (whose totals include all its children)
  // would pass its limit with this job.
  const Verdict v = check({level("physics-ml", 500, 100, 0), level("physics", 2000, 1990, 0),
                           level("root", std::nullopt, 5000, 0)},
                          20);
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_EQ(v.account, "physics");
  EXPECT_EQ(v.used.value, 1990);
  EXPECT_EQ(v.limit->value, 2000);
  EXPECT_EQ(
      v.message,
      "Job refused: Account physics (which covers physics-ml) has used 1990 kg of its 2000 kg "
      "CO2 budget, and this job's estimated 20 kg would exceed it; ask "
      "hpc-support@example.org to raise the budget.");
}

TEST(CheckSubmission, MostSevereLevelWinsThenTheTightest) {
  // Child denies (policy deny, over); parent only warns (policy warn, further over): deny wins.
  Verdict v =
      check({level("a", 100, 99, 0, Policy::kDeny), level("p", 100, 300, 0, Policy::kWarn)}, 2);
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_EQ(v.account, "a");
  // Both warn: the parent is at 95 %, the child at 85 %: the parent speaks.
  v = check({level("a", 100, 84, 0), level("p", 1000, 949, 0)}, 1);
  EXPECT_EQ(v.decision, Decision::kWarn);
  EXPECT_EQ(v.account, "p");
  // Both allow: the tighter (child at 50 % against parent at 10 %) is the one reported.
  v = check({level("a", 100, 49, 0), level("p", 1000, 99, 0)}, 1);
  EXPECT_EQ(v.decision, Decision::kAllow);
  EXPECT_EQ(v.account, "a");
  // A tie keeps the nearer level.
  v = check({level("a", 100, 90, 0), level("p", 1000, 900, 0)}, 0);
  EXPECT_EQ(v.account, "a");
  // A level without a limit is skipped, not a reason to allow.
  v = check({level("a", std::nullopt, 99, 0), level("p", 100, 99, 0)}, 2);
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_EQ(v.account, "p");
}

TEST(CheckSubmission, ZeroLimitRefusesAnyJob) {
  EXPECT_EQ(check({level("frozen", 0, 0, 0)}, 0.001).decision, Decision::kDeny);
  // A job estimated at nothing reaches the limit but does not pass it: warn.
  EXPECT_EQ(check({level("frozen", 0, 0, 0)}, 0).decision, Decision::kWarn);
  // Zero limit is tighter than any positive one.
  EXPECT_EQ(check({level("a", 1000, 999, 0), level("frozen", 0, 0, 0)}, 0.001).account, "frozen");
}

TEST(CheckSubmission, ThresholdExtremes) {
  // Warn at 0 %: every job warns; warn at 100 %: only at the limit.
  EXPECT_EQ(check({level("a", 100, 0, 0, Policy::kDeny, 0)}, 0).decision, Decision::kWarn);
  EXPECT_EQ(check({level("a", 100, 99, 0, Policy::kDeny, 10000)}, 0.5).decision, Decision::kAllow);
  EXPECT_EQ(check({level("a", 100, 99, 0, Policy::kDeny, 10000)}, 1).decision, Decision::kWarn);
}

TEST(CheckSubmission, EmptyAdminContactAndNegativeEstimate) {
  const Verdict v = check({level("a", 10, 20, 0)}, -3, "");
  EXPECT_EQ(v.estimate.value, 0);
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_NE(v.message.find("ask your administrator"), std::string::npos);
}

TEST(Names, DecisionPolicyAction) {
  EXPECT_EQ(to_string(Decision::kAllow), "allow");
  EXPECT_EQ(to_string(Decision::kWarn), "warn");
  EXPECT_EQ(to_string(Decision::kDeny), "deny");
  EXPECT_EQ(exit_code(Decision::kAllow), 0);
  EXPECT_EQ(exit_code(Decision::kWarn), 1);
  EXPECT_EQ(exit_code(Decision::kDeny), 2);
  EXPECT_EQ(parse_policy("warn").value(), Policy::kWarn);
  EXPECT_EQ(parse_policy("DENY").value(), Policy::kDeny);
  EXPECT_EQ(parse_policy("Stop").value(), Policy::kStop);
  EXPECT_EQ(parse_policy("halt").error(), "budget policy 'halt' is not one of warn, deny, stop");
  EXPECT_EQ(to_string(Policy::kStop), "stop");
  EXPECT_EQ(to_string(Action::kCheckpointSignal), "checkpoint-signal");
  EXPECT_EQ(to_string(Action::kCancel), "cancel");
  EXPECT_EQ(to_string(Action::kNone), "none");
}

TEST(StopAction, TimelineOfAnAccountThatCrossesItsLimit) {
  const WallTime t0 = WallTime(std::chrono::sys_days(std::chrono::year{2026} / 5 / 1));
  const Duration grace = 5min;
  const KgCo2 limit{1000};
  // Under or at the limit: nothing.
  EXPECT_EQ(stop_action(KgCo2{999}, limit, std::nullopt, t0, grace), Action::kNone);
  EXPECT_EQ(stop_action(KgCo2{1000}, limit, std::nullopt, t0, grace), Action::kNone);
  // Crossed, never signalled: signal (the enforcer records t0).
  EXPECT_EQ(stop_action(KgCo2{1000.1}, limit, std::nullopt, t0, grace), Action::kCheckpointSignal);
  // Signalled: nothing during the grace period, however far usage climbs.
  EXPECT_EQ(stop_action(KgCo2{1001}, limit, t0, t0 + 1min, grace), Action::kNone);
  EXPECT_EQ(stop_action(KgCo2{5000}, limit, t0, t0 + grace - 1ns, grace), Action::kNone);
  // Grace elapsed: cancel, exactly at the end and after.
  EXPECT_EQ(stop_action(KgCo2{1001}, limit, t0, t0 + grace, grace), Action::kCancel);
  EXPECT_EQ(stop_action(KgCo2{1001}, limit, t0, t0 + 1h, grace), Action::kCancel);
  // The budget was raised meanwhile: back within the limit, nothing.
  EXPECT_EQ(stop_action(KgCo2{1001}, KgCo2{2000}, t0, t0 + 1h, grace), Action::kNone);
  // The clock went backwards: no time has elapsed.
  EXPECT_EQ(stop_action(KgCo2{1001}, limit, t0, t0 - 1h, grace), Action::kNone);
  // No grace: cancel at the next look after the signal.
  EXPECT_EQ(stop_action(KgCo2{1001}, limit, t0, t0, Duration::zero()), Action::kCancel);
}

}  // namespace
}  // namespace jobcarbon::policy
