#include <jobcarbon/policy/budget_period.hpp>

#include <fmt/format.h>

namespace jobcarbon::policy {

namespace chr = std::chrono;

std::expected<YearStart, std::string> make_year_start(unsigned month, unsigned day) {
  // 2001 is not a leap year: a date valid there is valid in every year. Range first, since
  // chrono's month and day keep only 8 bits (month 257 would read as January).
  const bool in_range = month >= 1 && month <= 12 && day >= 1 && day <= 31;
  if (!in_range || !chr::year_month_day{chr::year{2001}, chr::month{month}, chr::day{day}}.ok()) {
    return std::unexpected(fmt::format(
        "budget year start {:02d}-{:02d} is not a date of every year (month 1-12, a day of that "
        "month, never February 29)",
        month, day));
  }
  return YearStart{month, day};
}

Period period_for_year(int year, YearStart from) {
  const auto first = [&](int y) {
    return WallTime(chr::sys_days(chr::year{y} / chr::month{from.month} / chr::day{from.day}));
  };
  return Period{year, first(year), first(year + 1)};
}

Period period_of(WallTime t, YearStart from) {
  const auto day = chr::floor<chr::days>(t);
  const int year = static_cast<int>(chr::year_month_day(chr::sys_days(day)).year());
  const Period same = period_for_year(year, from);
  return t < same.start ? period_for_year(year - 1, from) : same;
}

std::expected<std::vector<PeriodEnergy>, std::string> split_energy(WallTime start, WallTime end,
                                                                   Microjoules energy,
                                                                   YearStart from) {
  if (end < start) return std::unexpected("energy interval ends before it starts");
  if (energy.value < 0) {
    return std::unexpected(fmt::format("negative energy {} µJ cannot be charged", energy.value));
  }
  if (end == start) return std::vector<PeriodEnergy>{{period_of(start, from), energy}};
  const Int128 total = (end - start).count();
  std::vector<PeriodEnergy> parts;
  std::int64_t charged = 0;
  for (Period p = period_of(start, from); p.start < end; p = period_for_year(p.year + 1, from)) {
    const WallTime upto = std::min(p.end, end);
    // Cumulative share up to UPTO, rounded half up: the last one is ENERGY itself, so the parts
    // add up exactly. µJ (< 2^63) × ns (< 2^63) fits an Int128.
    const Int128 elapsed = (upto - start).count();
    const auto cumulative = static_cast<std::int64_t>(
        (static_cast<Int128>(energy.value) * elapsed + total / 2) / total);
    parts.push_back({p, Microjoules(cumulative - charged)});
    charged = cumulative;
  }
  return parts;
}

}  // namespace jobcarbon::policy
