#include <jobcarbon/ledger/budget_check.hpp>

#include <algorithm>

#include <fmt/format.h>

namespace jobcarbon::ledger {
namespace {

// The level's budget as the policy sees it: a CO2 limit, or an energy limit in kWh.
std::optional<policy::Budget> as_policy_budget(const std::vector<BudgetRecord>& found,
                                               const std::string& user) {
  for (const auto& b : found) {
    if (b.user != user) continue;
    if (b.limit_kg) return policy::Budget{*b.limit_kg, std::nullopt, b.policy, b.warn_at};
    if (b.limit_energy) {
      return policy::Budget{KgCo2{0}, to_kwh(*b.limit_energy), b.policy, b.warn_at};
    }
  }
  return std::nullopt;
}

policy::AccountUsage level(std::string name, std::optional<policy::Budget> budget,
                           const Usage& used, const Usage& running) {
  return {std::move(name),       budget, used.co2, running.co2, to_kwh(used.energy),
          to_kwh(running.energy)};
}

}  // namespace

int year_of(policy::WallTime t, policy::YearStart from) {
  return policy::period_of(t, from).year;
}

std::expected<int, std::string> budget_year_now(Store& store, policy::WallTime now) {
  auto from = store.budget_year_start();
  if (!from) return std::unexpected(from.error());
  return year_of(now, *from);
}

std::expected<policy::Verdict, std::string> check_budget(Store& store, const std::string& account,
                                                         const std::string& user, KgCo2 estimate,
                                                         int year, const std::string& admin_contact,
                                                         double estimate_kwh) {
  auto chain = store.account_chain(account);
  if (!chain) return std::unexpected(chain.error());
  std::vector<policy::AccountUsage> levels;
  for (const auto& a : *chain) {
    auto budgets = store.list_budgets(a, year);
    if (!budgets) return std::unexpected(budgets.error());
    if (a == account && !user.empty()) {
      if (auto own = as_policy_budget(*budgets, user)) {
        auto used = store.usage(a, user, year);
        if (!used) return std::unexpected(used.error());
        auto running = store.running_usage(a, user, year);
        if (!running) return std::unexpected(running.error());
        levels.push_back(level(fmt::format("{} (user {})", a, user), own, *used, *running));
      }
    }
    auto used = store.usage(a, "", year);
    if (!used) return std::unexpected(used.error());
    auto running = store.running_usage(a, "", year);
    if (!running) return std::unexpected(running.error());
    levels.push_back(level(a, as_policy_budget(*budgets, ""), *used, *running));
  }
  return policy::check_submission(levels, estimate, admin_contact, estimate_kwh);
}

std::expected<std::vector<BudgetStatus>, std::string> budget_status(
    Store& store, const std::optional<std::string>& account, int year, policy::WallTime now) {
  auto budgets = store.list_budgets(account, year);
  if (!budgets) return std::unexpected(budgets.error());
  auto from = store.budget_year_start();
  if (!from) return std::unexpected(from.error());
  const auto period = policy::period_for_year(year, *from);
  // The recent rate: finished jobs that started in the last kRecentWindow (or since the year
  // began, when that is shorter).
  const auto window_start = std::max(period.start, now - kRecentWindow);
  const auto us_of = [](policy::WallTime t) {
    return std::chrono::floor<std::chrono::microseconds>(t);
  };
  const double days_left =
      std::chrono::duration<double, std::ratio<86400>>(period.end - now).count();
  const double window_days =
      std::chrono::duration<double, std::ratio<86400>>(now - window_start).count();
  std::vector<BudgetStatus> out;
  for (const auto& b : *budgets) {
    auto used = store.usage(b.account, b.user, b.year);
    if (!used) return std::unexpected(used.error());
    auto running = store.running_usage(b.account, b.user, b.year);
    if (!running) return std::unexpected(running.error());
    BudgetStatus s{b, *used, *running, std::nullopt, 0, std::nullopt};
    const double limit = b.limit_kg ? b.limit_kg->value : to_kwh(*b.limit_energy);
    const double value =
        b.limit_kg ? used->co2.value + running->co2.value : to_kwh(used->energy + running->energy);
    s.remaining = limit - value;
    if (limit > 0) s.percent = value / limit * 100.0;
    if (now >= period.end) {
      s.projected = value;  // a past year: what was used
    } else if (now > period.start && window_days > 0) {
      auto recent = store.usage_between(b.account, b.user, us_of(window_start), us_of(now));
      if (!recent) return std::unexpected(recent.error());
      const double recent_value = b.limit_kg ? recent->co2.value : to_kwh(recent->energy);
      s.projected = value + recent_value / window_days * days_left;
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace jobcarbon::ledger
