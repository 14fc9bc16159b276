#include <jobcarbon/ledger/budget_listing.hpp>
#include <jobcarbon/ledger/text_table.hpp>

#include <algorithm>
#include <array>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/policy/budget_limit.hpp>

namespace jobcarbon::ledger {
namespace {

struct Numbers {
  std::string unit;
  double limit = 0;
  double used = 0;     // finished jobs
  double running = 0;  // running jobs so far
};

Numbers numbers(const BudgetStatus& s) {
  if (s.budget.limit_kg) {
    return {"kg", s.budget.limit_kg->value, s.used.co2.value, s.running.co2.value};
  }
  return {"kWh", to_kwh(*s.budget.limit_energy), to_kwh(s.used.energy), to_kwh(s.running.energy)};
}

std::string render_table(std::span<const BudgetStatus> rows) {
  if (rows.empty()) return "";
  std::vector<std::vector<std::string>> lines{{"YEAR", "ACCOUNT", "USER", "UNIT", "LIMIT", "USED",
                                               "RUNNING", "REMAINING", "PERCENT", "PROJECTED",
                                               "POLICY", "WARN AT"}};
  for (const auto& s : rows) {
    const Numbers n = numbers(s);
    lines.push_back({std::to_string(s.budget.year), s.budget.account,
                     s.budget.user.empty() ? "-" : s.budget.user, n.unit,
                     fmt::format("{:.2f}", n.limit), fmt::format("{:.2f}", n.used),
                     fmt::format("{:.2f}", n.running), fmt::format("{:.2f}", s.remaining),
                     s.percent ? fmt::format("{:.1f}%", *s.percent) : "-",
                     s.projected ? fmt::format("{:.2f}", *s.projected) : "-",
                     std::string(policy::to_string(s.budget.policy)),
                     policy::format_warn_threshold(s.budget.warn_at)});
  }
  // Numbers (LIMIT to PROJECTED) are right-aligned so their digits line up.
  const std::vector<bool> right{false, false, false, false, true,  true,
                                true,  true,  true,  true,  false, false};
  return aligned_table(lines, right);
}

std::string render_csv(std::span<const BudgetStatus> rows) {
  std::string out =
      "year,account,user,unit,limit,used,running,remaining,percent,projected,policy,warn_at\n";
  for (const auto& s : rows) {
    const Numbers n = numbers(s);
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", s.budget.year,
                       csv_cell(s.budget.account), csv_cell(s.budget.user), n.unit, n.limit, n.used,
                       n.running, s.remaining, s.percent ? fmt::format("{}", *s.percent) : "",
                       s.projected ? fmt::format("{}", *s.projected) : "",
                       policy::to_string(s.budget.policy),
                       policy::format_warn_threshold(s.budget.warn_at));
  }
  return out;
}

std::string render_json(std::span<const BudgetStatus> rows) {
  auto out = nlohmann::json::array();
  for (const auto& s : rows) {
    const Numbers n = numbers(s);
    auto opt = [](const std::optional<double>& v) {
      return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
    };
    out.push_back({{"year", s.budget.year},
                   {"account", s.budget.account},
                   {"user", s.budget.user},
                   {"unit", n.unit},
                   {"limit", n.limit},
                   {"used", n.used},
                   {"used_kg", s.used.co2.value},
                   {"used_kwh", to_kwh(s.used.energy)},
                   {"jobs", s.used.jobs},
                   {"running", n.running},
                   {"running_kg", s.running.co2.value},
                   {"running_kwh", to_kwh(s.running.energy)},
                   {"running_jobs", s.running.jobs},
                   {"remaining", s.remaining},
                   {"percent", opt(s.percent)},
                   {"projected", opt(s.projected)},
                   {"policy", policy::to_string(s.budget.policy)},
                   {"warn_at", policy::format_warn_threshold(s.budget.warn_at)},
                   {"updated_at", s.budget.updated_at},
                   {"updated_by", s.budget.updated_by}});
  }
  return out.dump(2) + "\n";
}

}  // namespace

std::string render_budgets(std::span<const BudgetStatus> rows, ListingFormat format) {
  switch (format) {
    case ListingFormat::kTable:
      return render_table(rows);
    case ListingFormat::kCsv:
      return render_csv(rows);
    case ListingFormat::kJson:
      return render_json(rows);
  }
  return "";
}

}  // namespace jobcarbon::ledger
