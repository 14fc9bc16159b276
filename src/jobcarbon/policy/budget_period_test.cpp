#include <jobcarbon/policy/budget_period.hpp>

#include <gtest/gtest.h>

namespace jobcarbon::policy {
namespace {

namespace chr = std::chrono;
using namespace std::chrono_literals;

// Y-M-D h:m:s UTC.
WallTime utc(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  return WallTime(chr::sys_days(chr::year{y} / chr::month{m} / chr::day{d})) + chr::hours(hh) +
         chr::minutes(mm) + chr::seconds(ss);
}

const YearStart kApril = *make_year_start(4, 1);

TEST(BudgetPeriod, CalendarYearInUtc) {
  const Period p = period_of(utc(2026, 6, 15, 12));
  EXPECT_EQ(p.year, 2026);
  EXPECT_EQ(p.start, utc(2026, 1, 1));
  EXPECT_EQ(p.end, utc(2027, 1, 1));
  EXPECT_EQ(period_of(utc(2026, 1, 1)).year, 2026);                // start is inside
  EXPECT_EQ(period_of(utc(2026, 12, 31, 23, 59, 59)).year, 2026);  // last second
  EXPECT_EQ(period_of(utc(2027, 1, 1) - 1ns).year, 2026);          // last nanosecond
  EXPECT_EQ(period_of(utc(2027, 1, 1)).year, 2027);                // end is outside
  EXPECT_EQ(period_of(utc(1969, 12, 31, 23)).year, 1969);          // before the epoch
  EXPECT_EQ(period_for_year(2026), period_of(utc(2026, 3, 3)));
}

TEST(BudgetPeriod, FiscalYearFromAprilFirst) {
  EXPECT_EQ(period_of(utc(2026, 3, 31, 23, 59, 59), kApril).year, 2025);
  EXPECT_EQ(period_of(utc(2026, 4, 1), kApril).year, 2026);
  EXPECT_EQ(period_of(utc(2026, 1, 1), kApril).year, 2025);
  EXPECT_EQ(period_of(utc(2026, 12, 31), kApril).year, 2026);
  const Period p = period_for_year(2025, kApril);
  EXPECT_EQ(p.start, utc(2025, 4, 1));
  EXPECT_EQ(p.end, utc(2026, 4, 1));
}

TEST(BudgetPeriod, LeapYearsHaveTheirExtraDay) {
  // 2024 is a leap year (366 days), 2100 is not (divisible by 100, not 400), 2000 is.
  EXPECT_EQ(period_for_year(2024).end - period_for_year(2024).start, chr::days(366));
  EXPECT_EQ(period_for_year(2025).end - period_for_year(2025).start, chr::days(365));
  EXPECT_EQ(period_for_year(2100).end - period_for_year(2100).start, chr::days(365));
  EXPECT_EQ(period_for_year(2000).end - period_for_year(2000).start, chr::days(366));
  EXPECT_EQ(period_of(utc(2024, 2, 29, 12)).year, 2024);
  // A fiscal year from March 1 holds February 29 of the following calendar year.
  const YearStart march = *make_year_start(3, 1);
  EXPECT_EQ(period_for_year(2023, march).end - period_for_year(2023, march).start, chr::days(366));
  EXPECT_EQ(period_of(utc(2024, 2, 29, 23, 59, 59), march).year, 2023);
  EXPECT_EQ(period_of(utc(2024, 3, 1), march).year, 2024);
}

TEST(BudgetPeriod, YearStartMustBeADateOfEveryYear) {
  EXPECT_TRUE(make_year_start(1, 1).has_value());
  EXPECT_TRUE(make_year_start(12, 31).has_value());
  EXPECT_TRUE(make_year_start(2, 28).has_value());
  EXPECT_EQ(make_year_start(2, 29).error(),
            "budget year start 02-29 is not a date of every year (month 1-12, a day of that month, "
            "never February 29)");
  EXPECT_FALSE(make_year_start(4, 31).has_value());
  EXPECT_FALSE(make_year_start(13, 1).has_value());
  EXPECT_FALSE(make_year_start(0, 1).has_value());
  EXPECT_FALSE(make_year_start(1, 0).has_value());
  EXPECT_FALSE(make_year_start(257, 1).has_value());  // would wrap to January in chrono::month
  EXPECT_FALSE(make_year_start(1, 257).has_value());
}

TEST(SplitEnergy, WithinOnePeriodIsWhole) {
  const auto parts = split_energy(utc(2026, 5, 1), utc(2026, 5, 2), Microjoules(1000)).value();
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].period.year, 2026);
  EXPECT_EQ(parts[0].energy, Microjoules(1000));
}

TEST(SplitEnergy, AcrossNewYearInProportionToTime) {
  // 18:00 on Dec 31 to 06:00 on Jan 1: 6 h in each year.
  const auto parts =
      split_energy(utc(2025, 12, 31, 18), utc(2026, 1, 1, 6), Microjoules(1'000'001)).value();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].period.year, 2025);
  EXPECT_EQ(parts[1].period.year, 2026);
  EXPECT_EQ(parts[0].energy, Microjoules(500'001));  // 500000.5 rounds half up
  EXPECT_EQ(parts[1].energy, Microjoules(500'000));
}

TEST(SplitEnergy, AcrossAFiscalBoundaryOneThirdTwoThirds) {
  // 1 h before April 1 and 2 h after: 10 µJ → 3.33… and 6.66…; the first rounds to 3, the rest
  // is what is left (7), so nothing is lost or made.
  const auto parts =
      split_energy(utc(2026, 3, 31, 23), utc(2026, 4, 1, 2), Microjoules(10), kApril).value();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].period.year, 2025);
  EXPECT_EQ(parts[0].energy, Microjoules(3));
  EXPECT_EQ(parts[1].period.year, 2026);
  EXPECT_EQ(parts[1].energy, Microjoules(7));
}

TEST(SplitEnergy, AJobSpanningSeveralYears) {
  // 2023-07-01 to 2025-07-01: half of 2023 (184 d), all of 2024 (366 d), half of 2025 (181 d).
  const std::int64_t e = 731'000'000'000;  // 731 days' worth: 1e9 µJ a day
  const auto parts = split_energy(utc(2023, 7, 1), utc(2025, 7, 1), Microjoules(e)).value();
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].energy, Microjoules(184'000'000'000));
  EXPECT_EQ(parts[1].energy, Microjoules(366'000'000'000));
  EXPECT_EQ(parts[2].energy, Microjoules(181'000'000'000));
}

TEST(SplitEnergy, PartsAlwaysSumToTheWhole) {
  const WallTime start = utc(2025, 12, 31, 23, 59, 59);
  for (std::int64_t e : {std::int64_t{0}, std::int64_t{1}, std::int64_t{999'999'937},
                         std::numeric_limits<std::int64_t>::max()}) {
    for (Duration len : {Duration(1ns), Duration(1s + 1ns), Duration(7s), Duration(400 * 24h)}) {
      const auto parts = split_energy(start, start + len, Microjoules(e)).value();
      std::int64_t sum = 0;
      for (const auto& p : parts) {
        EXPECT_GE(p.energy.value, 0);
        sum += p.energy.value;
      }
      EXPECT_EQ(sum, e) << "length " << len.count() << " ns";
    }
  }
}

TEST(SplitEnergy, EmptyAndBackwardIntervals) {
  const auto empty = split_energy(utc(2026, 4, 1), utc(2026, 4, 1), Microjoules(5), kApril).value();
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0].period.year, 2026);
  EXPECT_EQ(empty[0].energy, Microjoules(5));
  EXPECT_EQ(split_energy(utc(2026, 4, 2), utc(2026, 4, 1), Microjoules(5)).error(),
            "energy interval ends before it starts");
  EXPECT_FALSE(split_energy(utc(2026, 4, 1), utc(2026, 4, 2), Microjoules(-1)).has_value());
}

}  // namespace
}  // namespace jobcarbon::policy
