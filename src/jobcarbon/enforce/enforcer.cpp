#include <jobcarbon/enforce/enforcer.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/budget_check.hpp>
#include <jobcarbon/policy/budget_limit.hpp>
#include <jobcarbon/policy/budget_policy.hpp>

namespace jobcarbon::enforce {
namespace {

// Return the first over-limit budget that covers JOB, or nullptr.
const StopLimit* over_limit_of(const ChargedJob& job, std::span<const StopLimit> limits) {
  for (const auto& l : limits) {
    if (!l.over) continue;
    if (std::find(job.chain.begin(), job.chain.end(), l.account) == job.chain.end()) continue;
    if (!l.user.empty() && l.user != job.job.user) continue;
    return &l;
  }
  return nullptr;
}

// The standing of one stop budget, from budget_status's row.
StopLimit standing_of(const ledger::BudgetStatus& s) {
  StopLimit l{s.budget.account, s.budget.user, false, ""};
  if (s.budget.limit_energy) {
    const auto total = s.used.energy.value + s.running.energy.value;
    l.over = total > s.budget.limit_energy->value;
    l.standing = fmt::format("used {} + {} running of its {} energy budget",
                             policy::format_energy_limit(s.used.energy),
                             policy::format_energy_limit(s.running.energy),
                             policy::format_energy_limit(*s.budget.limit_energy));
  } else if (s.budget.limit_kg) {
    l.over = s.used.co2.value + s.running.co2.value > s.budget.limit_kg->value;
    l.standing =
        fmt::format("used {} + {} running of its {} CO2 budget", policy::display_kg(s.used.co2),
                    policy::display_kg(s.running.co2), policy::display_kg(*s.budget.limit_kg));
  }
  return l;
}

}  // namespace

std::string limit_name(const StopLimit& limit) {
  return limit.user.empty() ? limit.account
                            : fmt::format("{} (user {})", limit.account, limit.user);
}

std::string serialize_state(const EnforcerState& state) {
  nlohmann::json j{
      {"version", 1}, {"signalled", nlohmann::json::object()}, {"held", nlohmann::json::object()}};
  for (const auto& [job, us] : state.signalled_us) j["signalled"][job] = us;
  for (const auto& [job, budget] : state.held) j["held"][job] = budget;
  return j.dump(1) + "\n";
}

std::expected<EnforcerState, std::string> parse_state(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return std::unexpected("enforcer state: not a JSON object");
  }
  if (!j.contains("version") || j["version"] != 1) {
    return std::unexpected("enforcer state: 'version' is not 1");
  }
  EnforcerState state;
  for (const char* key : {"signalled", "held"}) {
    if (!j.contains(key) || !j[key].is_object()) {
      return std::unexpected(fmt::format("enforcer state: '{}' is not an object", key));
    }
  }
  for (const auto& [job, v] : j["signalled"].items()) {
    if (job.empty()) return std::unexpected("enforcer state: a job id in 'signalled' is empty");
    if (!v.is_number_integer()) {
      return std::unexpected(
          fmt::format("enforcer state: 'signalled' of job {} is not an integer", job));
    }
    state.signalled_us[job] = v.get<std::int64_t>();
  }
  for (const auto& [job, v] : j["held"].items()) {
    if (job.empty()) return std::unexpected("enforcer state: a job id in 'held' is empty");
    if (!v.is_string()) {
      return std::unexpected(fmt::format("enforcer state: 'held' of job {} is not a string", job));
    }
    state.held[job] = v.get<std::string>();
  }
  return state;
}

std::vector<Step> plan_round(std::span<const ChargedJob> jobs, std::span<const StopLimit> limits,
                             const EnforcerState& state, policy::WallTime now, Duration grace) {
  std::vector<Step> steps;
  for (const auto& j : jobs) {
    const StopLimit* limit = over_limit_of(j, limits);
    const auto& id = j.job.id;
    if (j.job.state == SlurmJob::State::kRunning && limit != nullptr) {
      std::optional<policy::WallTime> signalled;
      if (auto it = state.signalled_us.find(id); it != state.signalled_us.end()) {
        signalled = ledger::from_us(it->second);
      }
      switch (policy::stop_action(true, signalled, now, grace)) {
        case policy::Action::kCheckpointSignal:
          steps.push_back({Step::Kind::kSignal, id, limit_name(*limit)});
          break;
        case policy::Action::kCancel:
          steps.push_back({Step::Kind::kCancel, id, limit_name(*limit)});
          break;
        case policy::Action::kNone:
          break;
      }
    } else if (j.job.state == SlurmJob::State::kPending) {
      const bool held_by_us = state.held.contains(id);
      if (limit != nullptr && !held_by_us) {
        steps.push_back({Step::Kind::kHold, id, limit_name(*limit)});
      } else if (limit == nullptr && held_by_us) {
        steps.push_back({Step::Kind::kRelease, id, state.held.at(id)});
      }
    }
  }
  return steps;
}

void after_step(EnforcerState& state, const Step& step, policy::WallTime now) {
  switch (step.kind) {
    case Step::Kind::kSignal:
      state.signalled_us[step.job] =
          ledger::to_us(std::chrono::floor<std::chrono::microseconds>(now));
      break;
    case Step::Kind::kCancel:
      break;  // kept until the job leaves the queue, so it is not signalled again meanwhile
    case Step::Kind::kHold:
      state.held[step.job] = step.budget;
      break;
    case Step::Kind::kRelease:
      state.held.erase(step.job);
      break;
  }
}

void forget_settled(EnforcerState& state, std::span<const ChargedJob> live,
                    std::span<const StopLimit> limits) {
  // By id: a big cluster has tens of thousands of queued jobs and thousands of remembered ones.
  std::unordered_map<std::string_view, const ChargedJob*> by_id;
  for (const auto& j : live) by_id.emplace(j.job.id, &j);
  auto find = [&](const std::string& id) -> const ChargedJob* {
    const auto it = by_id.find(id);
    return it == by_id.end() ? nullptr : it->second;
  };
  std::erase_if(state.signalled_us, [&](const auto& entry) {
    const ChargedJob* j = find(entry.first);
    return j == nullptr || over_limit_of(*j, limits) == nullptr;
  });
  std::erase_if(state.held, [&](const auto& entry) { return find(entry.first) == nullptr; });
}

std::expected<void, std::string> run_round(ledger::Store& store, Cluster& cluster,
                                           EnforcerState& state, const EnforcerOptions& options,
                                           policy::WallTime now,
                                           const std::function<void(const std::string&)>& log) {
  auto year = ledger::budget_year_now(store, now);
  if (!year) return std::unexpected(year.error());
  auto standings = ledger::budget_status(store, std::nullopt, *year, now);
  if (!standings) return std::unexpected(standings.error());
  std::vector<StopLimit> limits;
  for (const auto& s : *standings) {
    if (s.budget.policy == policy::Policy::kStop) limits.push_back(standing_of(s));
  }
  // Nothing to enforce and nothing to undo: no need to ask slurmctld.
  if (limits.empty() && state.held.empty() && state.signalled_us.empty()) return {};

  auto queue = cluster.jobs();
  if (!queue) return std::unexpected(queue.error());
  std::vector<ChargedJob> jobs;
  std::map<std::string, std::vector<std::string>> chains;
  for (auto& job : *queue) {
    if (job.account.empty()) continue;  // no account: no budget can cover it
    auto it = chains.find(job.account);
    if (it == chains.end()) {
      auto chain = store.account_chain(job.account);
      if (!chain) return std::unexpected(chain.error());
      it = chains.emplace(job.account, std::move(*chain)).first;
    }
    jobs.push_back({std::move(job), it->second});
  }

  const auto steps = plan_round(jobs, limits, state, now, options.grace);
  std::unordered_map<std::string_view, const ChargedJob*> by_id;
  for (const auto& j : jobs) by_id.emplace(j.job.id, &j);
  std::unordered_map<std::string, const StopLimit*> by_name;
  for (const auto& l : limits) by_name.emplace(limit_name(l), &l);
  for (const auto& step : steps) {
    const ChargedJob& j = *by_id.at(step.job);
    const auto named = by_name.find(step.budget);
    const StopLimit* limit = named == by_name.end() ? nullptr : named->second;
    const std::string why = limit != nullptr
                                ? fmt::format("account {} {}", step.budget, limit->standing)
                                : fmt::format("account {} is within its limit again", step.budget);
    std::string what;
    std::expected<void, std::string> done;
    switch (step.kind) {
      case Step::Kind::kSignal:
        what = fmt::format(
            "sent SIG{} to job {} (user {}) to save its checkpoint; it is cancelled "
            "in {:g} s unless the budget is raised",
            options.signal, step.job, j.job.user, to_seconds(options.grace));
        if (!options.dry_run) done = cluster.signal(step.job, options.signal);
        break;
      case Step::Kind::kCancel:
        what = fmt::format("cancelled job {} (user {}), {:g} s after its checkpoint signal",
                           step.job, j.job.user, to_seconds(options.grace));
        if (!options.dry_run) done = cluster.cancel(step.job);
        break;
      case Step::Kind::kHold:
        what = fmt::format("held pending job {} (user {}) until the budget is raised", step.job,
                           j.job.user);
        if (!options.dry_run) done = cluster.hold(step.job);
        break;
      case Step::Kind::kRelease:
        what = fmt::format("released job {} (user {}), which it had held", step.job, j.job.user);
        if (!options.dry_run) done = cluster.release(step.job);
        break;
    }
    if (!done) {
      log(fmt::format("{}: could not act: {}", why, done.error()));
      continue;
    }
    log(fmt::format("{}{}: {}", options.dry_run ? "(dry run) " : "", why, what));
    if (!options.dry_run) after_step(state, step, now);
  }
  forget_settled(state, jobs, limits);
  return {};
}

}  // namespace jobcarbon::enforce
