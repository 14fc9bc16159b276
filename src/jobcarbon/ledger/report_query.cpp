#include <jobcarbon/ledger/report_query.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>

#include <fmt/format.h>

#include <jobcarbon/ledger/budget_check.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::ledger {

std::optional<Grouping> parse_grouping(std::string_view name) {
  if (name == "account") return Grouping::kAccount;
  if (name == "user") return Grouping::kUser;
  if (name == "month") return Grouping::kMonth;
  if (name == "week") return Grouping::kWeek;
  if (name == "node") return Grouping::kNode;
  if (name == "tag") return Grouping::kTag;
  if (name == "gpu-model") return Grouping::kGpuModel;
  return std::nullopt;
}

std::string_view to_string(Grouping grouping) {
  switch (grouping) {
    case Grouping::kAccount:
      return "account";
    case Grouping::kUser:
      return "user";
    case Grouping::kMonth:
      return "month";
    case Grouping::kWeek:
      return "week";
    case Grouping::kNode:
      return "node";
    case Grouping::kTag:
      return "tag";
    case Grouping::kGpuModel:
      return "gpu-model";
  }
  return "";
}

void merge_idle(std::vector<ReportRow>& rows,
                const std::vector<std::pair<std::string, Microjoules>>& per_node) {
  for (const auto& [node, energy] : per_node) {
    auto it =
        std::find_if(rows.begin(), rows.end(), [&](const ReportRow& r) { return r.key == node; });
    if (it == rows.end()) {
      ReportRow r;
      r.key = node;
      r.idle_energy = energy;
      rows.push_back(std::move(r));
    } else {
      it->idle_energy = energy;
    }
  }
  std::sort(rows.begin(), rows.end(),
            [](const ReportRow& a, const ReportRow& b) { return a.key < b.key; });
}

std::expected<std::pair<Grouping, std::string>, std::string> parse_report_by(
    std::string_view text) {
  if (text.starts_with("tag:")) {
    const auto key = text.substr(4);
    if (key.empty()) return std::unexpected("--by tag:KEY: the tag key is empty");
    return std::pair{Grouping::kTag, std::string(key)};
  }
  const auto g = parse_grouping(text);
  if (!g || *g == Grouping::kTag) {
    return std::unexpected(
        fmt::format("--by '{}': expected account, user, month, week, node, gpu-model or tag:KEY",
                    text.substr(0, 60)));
  }
  return std::pair{*g, std::string()};
}

std::expected<Timestamp, std::string> parse_report_date(std::string_view flag,
                                                        std::string_view date) {
  const auto bad = [&] {
    return std::unexpected(
        fmt::format("{}: '{}' is not a date: expected YYYY-MM-DD (UTC)", flag, date));
  };
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return bad();
  int y = 0;
  unsigned m = 0;
  unsigned d = 0;
  const auto number = [&](std::size_t at, std::size_t n, auto& out) {
    for (std::size_t i = at; i < at + n; ++i) {
      if (date[i] < '0' || date[i] > '9') return false;
    }
    return std::from_chars(date.data() + at, date.data() + at + n, out).ec == std::errc();
  };
  if (!number(0, 4, y) || !number(5, 2, m) || !number(8, 2, d)) return bad();
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(m),
                                        std::chrono::day(d)};
  if (!ymd.ok()) return bad();
  return Timestamp(std::chrono::sys_days(ymd));
}

std::expected<void, std::string> attach_budget_percents(Store& store,
                                                        std::vector<ReportRow>& rows) {
  auto from = store.budget_year_start();
  if (!from) return std::unexpected(from.error());
  for (auto& row : rows) {
    const int year = year_of(row.first_start, *from);
    if (year != year_of(row.last_start, *from)) continue;  // spanning years: no one budget
    auto budgets = store.list_budgets(row.key, year);
    if (!budgets) return std::unexpected(budgets.error());
    for (const auto& b : *budgets) {
      if (!b.user.empty() || b.account != row.key) continue;
      if (b.limit_kg && b.limit_kg->value > 0) {
        row.budget_percent = row.co2_kg / b.limit_kg->value * 100;
      } else if (b.limit_energy && b.limit_energy->value > 0) {
        row.budget_percent = to_kwh(row.energy_charged) / to_kwh(*b.limit_energy) * 100;
      }
    }
  }
  return {};
}

}  // namespace jobcarbon::ledger
