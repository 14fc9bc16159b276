#include <jobcarbon/policy/budget_policy.hpp>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace jobcarbon::policy {
namespace {

struct LevelDecision {
  Decision decision;
  double total;  // used + running + estimate, kg (kWh for an energy budget)
  double limit;  // kg (kWh)
};

LevelDecision decide(const AccountUsage& level, const Budget& budget, double estimate_kg,
                     double estimate_kwh) {
  const bool energy = budget.limit_kwh.has_value();
  const double total = energy ? level.used_kwh + level.running_kwh + estimate_kwh
                              : level.used.value + level.running.value + estimate_kg;
  const double limit = energy ? *budget.limit_kwh : budget.limit.value;
  // Multiply before dividing: for a whole-kg limit the threshold is then exact, so a total
  // exactly at 80 % of 1200 kg (960 kg) is at the threshold, not a rounding error below it.
  const double threshold = limit * budget.warn_at.basis_points / 10'000.0;
  if (total > limit) {
    return {budget.policy == Policy::kWarn ? Decision::kWarn : Decision::kDeny, total, limit};
  }
  return {total < threshold ? Decision::kAllow : Decision::kWarn, total, limit};
}

// True when A is closer to (or further past) its limit than B: a.total / a.limit >
// b.total / b.limit, cross-multiplied so that a limit of 0 needs no division.
bool tighter(const LevelDecision& a, const LevelDecision& b) {
  return a.total * b.limit > b.total * a.limit;
}

std::string display_kwh(double kwh) {
  if (kwh != 0 && std::fabs(kwh) < 1) return fmt::format("{:.3g} kWh", kwh);
  return fmt::format("{:.1f} kWh", kwh);
}

std::string used_text(const AccountUsage& level, bool energy) {
  if (energy) {
    if (level.running_kwh <= 0) return display_kwh(level.used_kwh);
    return fmt::format("{} (of which {} by running jobs)",
                       display_kwh(level.used_kwh + level.running_kwh),
                       display_kwh(level.running_kwh));
  }
  if (level.running.value <= 0) return display_kg(level.used);
  return fmt::format("{} (of which {} by running jobs)",
                     display_kg(KgCo2{level.used.value + level.running.value}),
                     display_kg(level.running));
}

// Return TOTAL as a percentage of LIMIT ("105%"); a limit of 0 is reached by anything.
std::string percent_of(double total, double limit) {
  if (limit <= 0) return "100%";
  return fmt::format("{:.0f}%", 100.0 * total / limit);
}

}  // namespace

std::string_view to_string(Decision decision) {
  switch (decision) {
    case Decision::kAllow:
      return "allow";
    case Decision::kWarn:
      return "warn";
    case Decision::kDeny:
      return "deny";
  }
  return "deny";
}

int exit_code(Decision decision) {
  switch (decision) {
    case Decision::kAllow:
      return 0;
    case Decision::kWarn:
      return 1;
    case Decision::kDeny:
      return 2;
  }
  return 2;
}

std::string_view to_string(Policy policy) {
  switch (policy) {
    case Policy::kWarn:
      return "warn";
    case Policy::kDeny:
      return "deny";
    case Policy::kStop:
      return "stop";
  }
  return "stop";
}

std::expected<Policy, std::string> parse_policy(std::string_view text) {
  std::string lowered(text);
  for (char& c : lowered) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  for (Policy p : {Policy::kWarn, Policy::kDeny, Policy::kStop}) {
    if (lowered == to_string(p)) return p;
  }
  return std::unexpected(fmt::format("budget policy '{}' is not one of warn, deny, stop", text));
}

std::string_view to_string(Action action) {
  switch (action) {
    case Action::kNone:
      return "none";
    case Action::kCheckpointSignal:
      return "checkpoint-signal";
    case Action::kCancel:
      return "cancel";
  }
  return "none";
}

Verdict check_submission(std::span<const AccountUsage> chain, KgCo2 estimate,
                         std::string_view admin_contact, double estimate_kwh) {
  Verdict v;
  v.estimate = KgCo2{std::max(estimate.value, 0.0)};
  v.estimate_kwh = std::max(estimate_kwh, 0.0);
  std::string est = display_kg(v.estimate);
  if (chain.empty()) {
    v.message = fmt::format(
        "The job has no account, so no CO2 budget applies; it is estimated at {}.", est);
    return v;
  }
  const AccountUsage* decider = nullptr;
  LevelDecision best{};
  for (const AccountUsage& level : chain) {
    if (!level.budget) continue;
    const LevelDecision d = decide(level, *level.budget, v.estimate.value, v.estimate_kwh);
    // Strictly more severe, or as severe and strictly tighter: ties keep the nearer level.
    if (!decider || d.decision > best.decision ||
        (d.decision == best.decision && tighter(d, best))) {
      decider = &level;
      best = d;
    }
  }
  const AccountUsage& own = chain.front();
  if (!decider) {
    v.account = own.account;
    v.used = KgCo2{own.used.value + own.running.value};
    v.running = own.running;
    v.message =
        fmt::format("Account {} has no CO2 budget; this job is estimated at {}.", own.account, est);
    return v;
  }
  v.decision = best.decision;
  v.account = decider->account;
  v.used = KgCo2{decider->used.value + decider->running.value};
  v.running = decider->running;
  v.energy = decider->budget->limit_kwh.has_value();
  std::string kind = "CO2";
  std::string limit;
  if (v.energy) {
    v.used_kwh = decider->used_kwh + decider->running_kwh;
    v.limit_kwh = decider->budget->limit_kwh;
    kind = "energy";
    limit = display_kwh(*v.limit_kwh);
    est = display_kwh(v.estimate_kwh);
  } else {
    v.limit = decider->budget->limit;
    limit = display_kg(*v.limit);
  }
  const std::string who =
      decider == &own ? fmt::format("Account {}", decider->account)
                      : fmt::format("Account {} (which covers {})", decider->account, own.account);
  const std::string ask = admin_contact.empty() ? "your administrator" : std::string(admin_contact);
  const std::string used = used_text(*decider, v.energy);
  if (best.decision == Decision::kDeny) {
    v.message = fmt::format(
        "Job refused: {} has used {} of its {} {} budget, and this job's estimated {} would "
        "exceed it; ask {} to raise the budget.",
        who, used, limit, kind, est, ask);
  } else if (best.decision == Decision::kWarn && best.total > best.limit) {
    v.message = fmt::format(
        "Warning: {} is over its {} {} budget: {} used, and this job's estimated {} brings it "
        "to {} of the limit; ask {} about the budget.",
        who, limit, kind, used, est, percent_of(best.total, best.limit), ask);
  } else if (best.decision == Decision::kWarn) {
    v.message = fmt::format(
        "Warning: {} has used {} of its {} {} budget; with this job's estimated {} it reaches "
        "{} (warnings start at {}).",
        who, used, limit, kind, est, percent_of(best.total, best.limit),
        format_warn_threshold(decider->budget->warn_at));
  } else {
    v.message = fmt::format("{} has used {} of its {} {} budget; this job is estimated at {}.", who,
                            used, limit, kind, est);
  }
  return v;
}

Action stop_action(KgCo2 usage, KgCo2 limit, std::optional<WallTime> signalled_at, WallTime now,
                   Duration grace) {
  return stop_action(usage.value > limit.value, signalled_at, now, grace);
}

Action stop_action(bool over, std::optional<WallTime> signalled_at, WallTime now, Duration grace) {
  if (!over) return Action::kNone;
  if (!signalled_at) return Action::kCheckpointSignal;
  const Duration elapsed = now > *signalled_at ? now - *signalled_at : Duration::zero();
  return elapsed >= grace ? Action::kCancel : Action::kNone;
}

}  // namespace jobcarbon::policy
