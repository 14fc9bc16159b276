// The period a budget covers: a calendar year in UTC, or a fiscal year that starts on a configured
// month and day (00:00 UTC). A period is named by the calendar year in which it starts: with
// fiscal years from April 1, 2026-03-31T23:59:59Z is in period 2025. A job that runs across the
// boundary between two periods is charged to each in proportion to its time in each.
#pragma once

#include <chrono>
#include <expected>
#include <string>
#include <vector>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::policy {

using WallTime = std::chrono::system_clock::time_point;

// The first day of every period. January 1 (the default) gives calendar years.
struct YearStart {
  unsigned month = 1;  // 1..12
  unsigned day = 1;    // 1..28/30/31, valid in every year (so never February 29)
  constexpr auto operator<=>(const YearStart&) const = default;
};

// Return the year start MONTH/DAY, or an error naming it when it is not a date of every year
// (month outside 1..12, day outside the month, February 29).
std::expected<YearStart, std::string> make_year_start(unsigned month, unsigned day);

// A budget period: the instants in [start, end).
struct Period {
  int year = 0;  // the calendar year in which START lies
  WallTime start;
  WallTime end;
  constexpr auto operator<=>(const Period&) const = default;
};

// Return the period named YEAR (`budget set --year 2026`). FROM must come from make_year_start.
Period period_for_year(int year, YearStart from = {});

// Return the period that contains T. FROM must come from make_year_start.
Period period_of(WallTime t, YearStart from = {});

// The energy of a job charged to one period.
struct PeriodEnergy {
  Period period;
  Microjoules energy;
};

// Return ENERGY, used evenly over [START, END), split among the periods it overlaps in
// proportion to the time spent in each, in time order. Exact: the parts add up to ENERGY to the
// microjoule (each boundary's cumulative share is rounded once). An empty interval (START ==
// END) is charged wholly to period_of(START). Error when END is before START or ENERGY is
// negative.
std::expected<std::vector<PeriodEnergy>, std::string> split_energy(WallTime start, WallTime end,
                                                                   Microjoules energy,
                                                                   YearStart from = {});

}  // namespace jobcarbon::policy
