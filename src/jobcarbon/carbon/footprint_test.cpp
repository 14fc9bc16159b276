#include <jobcarbon/carbon/footprint.hpp>

#include <gtest/gtest.h>

#include <jobcarbon/carbon/intensity_table.hpp>

namespace jobcarbon::carbon {
namespace {

using namespace std::chrono_literals;

// 1 kWh = 3.6e6 J = 3.6e12 µJ.
constexpr Microjoules kwh(std::int64_t n) {
  return Microjoules(n * 3'600'000'000'000);
}
WallTime at(const char* iso) {
  return *parse_iso8601(iso);
}

TEST(Footprint, ThirtyKwhAtTheStudysEuFigure) {
  // 30 kWh × 0.296 kg/kWh = 8.88 kg.
  EXPECT_NEAR(footprint_of(kwh(30), 1.0, 0.296).value, 8.88, 1e-12);
  EXPECT_NEAR(co2_of(kwh(30), 0.296).value, 8.88, 1e-12);
  // The same through the table's eea-2016-study row for the EU.
  auto table = IntensityTable::load_embedded();
  ASSERT_TRUE(table.has_value()) << table.error();
  const auto eu = table->lookup("EU", "eea-2016-study");
  ASSERT_TRUE(eu.has_value()) << eu.error();
  EXPECT_NEAR(footprint_of(kwh(30), 1.0, eu->kg_per_kwh).value, 8.88, 1e-12);
}

TEST(Footprint, PueMultipliesTheEnergyAndTheCo2) {
  EXPECT_EQ(facility_energy(kwh(30), 1.5), kwh(45));
  EXPECT_EQ(facility_energy(Microjoules(3), 1.5), Microjoules(5));     // 4.5 rounds to nearest (up)
  EXPECT_NEAR(footprint_of(kwh(30), 1.5, 0.296).value, 13.32, 1e-12);  // 45 kWh × 0.296
  EXPECT_NEAR(footprint_of(kwh(30), 1.5, 0.296).value / footprint_of(kwh(30), 1.0, 0.296).value,
              1.5, 1e-12);
}

TEST(Footprint, PueMustBePlausible) {
  EXPECT_DOUBLE_EQ(*parse_pue("1.58"), 1.58);
  EXPECT_DOUBLE_EQ(*parse_pue("1"), 1.0);
  EXPECT_EQ(parse_pue("0.9").error(),
            "PUE 0.9 is below 1; PUE is facility energy over IT energy, at least 1.0");
  EXPECT_EQ(parse_pue("15").error(), "PUE 15 is implausible (typical values are 1.1 to 2)");
  EXPECT_EQ(parse_pue("x").error(), "PUE 'x' is not a number");
  EXPECT_TRUE(check_pue(1.2).has_value());
}

TEST(FootprintAccumulator, ConstantIntensityOverManyIntervals) {
  const FixedIntensity fixed(0.2);
  FootprintAccumulator acc(fixed, 1.5);
  // 3600 one-second intervals of 1 kJ: 3.6 MJ = 1 kWh IT, 1.5 kWh facility, 0.3 kg.
  WallTime t = at("2024-03-01T12:00:00Z");
  for (int i = 0; i < 3600; ++i) {
    ASSERT_TRUE(acc.add({t, t + 1s, Microjoules(1'000'000'000)}).has_value());
    t += 1s;
  }
  EXPECT_EQ(acc.it_energy(), kwh(1));
  EXPECT_EQ(acc.facility_energy(), Microjoules(5'400'000'000'000));
  EXPECT_NEAR(acc.co2().value, 0.3, 1e-12);
  EXPECT_NEAR(*acc.mean_kg_per_kwh(), 0.2, 1e-12);
  EXPECT_EQ(acc.first_intensity()->dataset, "fixed");
}

constexpr const char* kSeries =
    "timestamp,kg_per_kwh\n"
    "2024-03-01T12:00:00Z,0.2\n"
    "2024-03-01T13:00:00Z,0.3\n"
    "2024-03-01T14:00:00Z,0.4\n";

TEST(FootprintAccumulator, IntervalCrossingAnHourIsSplitInProportionToTime) {
  const auto series = HourlySeries::parse(kSeries, "s.csv");
  ASSERT_TRUE(series.has_value()) << series.error();
  {
    // 12:30-13:30, 2 kWh: 1 kWh at 0.2 + 1 kWh at 0.3 = 0.5 kg.
    FootprintAccumulator acc(*series, 1.0);
    ASSERT_TRUE(acc.add({at("2024-03-01T12:30:00Z"), at("2024-03-01T13:30:00Z"), kwh(2)}));
    EXPECT_NEAR(acc.co2().value, 0.5, 1e-12);
    EXPECT_NEAR(*acc.mean_kg_per_kwh(), 0.25, 1e-12);
    EXPECT_EQ(acc.it_energy(), kwh(2));
  }
  {
    // 12:45-13:30, 3 kWh: 15 min → 1 kWh at 0.2, 30 min → 2 kWh at 0.3: 0.8 kg; × PUE 1.2.
    FootprintAccumulator acc(*series, 1.2);
    ASSERT_TRUE(acc.add({at("2024-03-01T12:45:00Z"), at("2024-03-01T13:30:00Z"), kwh(3)}));
    EXPECT_NEAR(acc.co2().value, 0.8 * 1.2, 1e-12);
  }
  {
    // 12:30-14:30 crosses two boundaries, 4 kWh: 1 × 0.2 + 2 × 0.3 + 1 × 0.4 = 1.2 kg.
    FootprintAccumulator acc(*series, 1.0);
    ASSERT_TRUE(acc.add({at("2024-03-01T12:30:00Z"), at("2024-03-01T14:30:00Z"), kwh(4)}));
    EXPECT_NEAR(acc.co2().value, 1.2, 1e-12);
  }
}

TEST(FootprintAccumulator, SplitConservesEnergyToTheMicrojoule) {
  const auto series = HourlySeries::parse(kSeries, "s.csv");
  ASSERT_TRUE(series.has_value());
  FootprintAccumulator acc(*series, 1.0);
  // 12:50-13:20: a third before the boundary. 1000001 µJ → 333334 + 666667 (rounded shares).
  ASSERT_TRUE(
      acc.add({at("2024-03-01T12:50:00Z"), at("2024-03-01T13:20:00Z"), Microjoules(1'000'001)}));
  EXPECT_EQ(acc.it_energy(), Microjoules(1'000'001));
  EXPECT_NEAR(acc.co2().value, (333'334 * 0.2 + 666'667 * 0.3) / 3.6e12, 1e-20);
}

TEST(FootprintAccumulator, UncoveredTimeOrBackwardsIntervalChangesNothing) {
  const auto series = HourlySeries::parse(kSeries, "s.csv");
  ASSERT_TRUE(series.has_value());
  FootprintAccumulator acc(*series, 1.0);
  ASSERT_TRUE(acc.add({at("2024-03-01T12:00:00Z"), at("2024-03-01T13:00:00Z"), kwh(1)}));
  // The series ends at 15:00; an interval running past it is refused as a whole.
  const auto late = acc.add({at("2024-03-01T14:30:00Z"), at("2024-03-01T15:30:00Z"), kwh(1)});
  ASSERT_FALSE(late.has_value());
  EXPECT_NE(late.error().find("no intensity for 2024-03-01T15:00:00Z"), std::string::npos)
      << late.error();
  const auto backwards = acc.add({at("2024-03-01T13:00:00Z"), at("2024-03-01T12:00:00Z"), kwh(1)});
  EXPECT_EQ(backwards.error(), "energy interval ends before it starts");
  EXPECT_EQ(acc.it_energy(), kwh(1));
  EXPECT_NEAR(acc.co2().value, 0.2, 1e-12);
}

TEST(FootprintAccumulator, ZeroLengthIntervalIsChargedAtItsInstant) {
  const auto series = HourlySeries::parse(kSeries, "s.csv");
  ASSERT_TRUE(series.has_value());
  FootprintAccumulator acc(*series, 1.0);
  EXPECT_FALSE(acc.mean_kg_per_kwh().has_value());
  ASSERT_TRUE(acc.add({at("2024-03-01T13:10:00Z"), at("2024-03-01T13:10:00Z"), kwh(1)}));
  EXPECT_NEAR(acc.co2().value, 0.3, 1e-12);
}

}  // namespace
}  // namespace jobcarbon::carbon
