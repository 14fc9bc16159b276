#include <jobcarbon/carbon/intensity_source.hpp>

#include <random>
#include <regex>

#include <gtest/gtest.h>

namespace jobcarbon::carbon {
namespace {

using namespace std::chrono_literals;

WallTime at(const char* iso) {
  return *parse_iso8601(iso);
}

TEST(Iso8601, ParsesUtcOffsetsAndFractions) {
  const WallTime t = at("2024-03-01T13:00:00Z");
  EXPECT_EQ(format_iso8601(t), "2024-03-01T13:00:00Z");
  // 2024-03-01 is day 19783 since 1970-01-01.
  EXPECT_EQ(t.time_since_epoch(), std::chrono::sys_days::duration(19783) + 13h);
  EXPECT_EQ(at("2024-03-01 13:00"), t);
  EXPECT_EQ(at("2024-03-01T13:00:00"), t);
  EXPECT_EQ(at("2024-03-01T14:00:00+01:00"), t);
  EXPECT_EQ(at("2024-03-01T12:30:00-0030"), t);
  EXPECT_EQ(at("2024-03-01T13:00:00.5Z") - t, 500ms);
  for (const char* bad : {"2024-02-30T00:00Z", "2024-03-01", "2024-03-01T25:00Z", "yesterday",
                          "2024-03-01T13:00:00Q", "2024-3-1T13:00Z", "2024-03-01T13:00:00.",
                          "9024-03-01T13:00:00Z", "1024-03-01T13:00:00Z"}) {
    const auto r = parse_iso8601(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().find(bad), std::string::npos) << r.error();
  }
}

TEST(FixedIntensity, SameValueAtEveryTime) {
  const FixedIntensity fixed(0.296);
  const auto i = fixed.at(at("2016-06-01T00:00:00Z"));
  ASSERT_TRUE(i.has_value());
  EXPECT_DOUBLE_EQ(i->kg_per_kwh, 0.296);
  EXPECT_EQ(i->dataset, "fixed");
  EXPECT_EQ(i->source, "--intensity");
  EXPECT_EQ(i->year, 2016);
  EXPECT_FALSE(i->is_default_world);
  EXPECT_FALSE(fixed.next_change_after(at("2016-06-01T00:00:00Z")).has_value());
}

TEST(FixedIntensity, ParsesTheFlagValue) {
  EXPECT_DOUBLE_EQ(*parse_intensity_value(" 0.441 "), 0.441);
  EXPECT_DOUBLE_EQ(*parse_intensity_value("0"), 0.0);
  EXPECT_EQ(parse_intensity_value("abc").error(),
            "intensity 'abc' is not a number (kg CO2 per kWh)");
  EXPECT_EQ(parse_intensity_value("-1").error(), "intensity -1 kg/kWh is negative");
  EXPECT_EQ(parse_intensity_value("441").error(),
            "intensity 441 kg/kWh is implausible; the unit is kg CO2 per kWh (0.4, not 400 g)");
}

TEST(TableIntensity, CarriesTheRowsDescription) {
  IntensityRow row;
  row.zone = "WORLD";
  row.dataset = "ember";
  row.basis = "lifecycle, generation";
  row.source = "Ember";
  row.year = 2024;
  row.kg_per_kwh = 0.47294;
  const TableIntensity source(row, /*is_default_world=*/true);
  const auto i = source.at(at("2030-01-01T00:00:00Z"));
  ASSERT_TRUE(i.has_value());
  EXPECT_DOUBLE_EQ(i->kg_per_kwh, 0.47294);
  EXPECT_EQ(i->zone, "WORLD");
  EXPECT_EQ(i->year, 2024);  // the figure's year, not the job's
  EXPECT_TRUE(i->is_default_world);
}

constexpr const char* kSeries =
    "timestamp,kg_per_kwh,zone\n"
    "2024-03-01T12:00:00Z,0.200,DE\n"
    "2024-03-01T13:00:00Z,0.300,DE\n"
    "2024-03-01T14:00:00Z,0.400,DE\n";

TEST(HourlySeries, ValueOfTheHourContainingTheTime) {
  const auto s = HourlySeries::parse(kSeries, "hours.csv");
  ASSERT_TRUE(s.has_value()) << s.error();
  EXPECT_DOUBLE_EQ(s->at(at("2024-03-01T12:00:00Z"))->kg_per_kwh, 0.2);
  EXPECT_DOUBLE_EQ(s->at(at("2024-03-01T12:59:59Z"))->kg_per_kwh, 0.2);
  EXPECT_DOUBLE_EQ(s->at(at("2024-03-01T13:00:00Z"))->kg_per_kwh, 0.3);
  EXPECT_DOUBLE_EQ(s->at(at("2024-03-01T14:59:59Z"))->kg_per_kwh, 0.4);  // last step: 1 h
  const auto i = *s->at(at("2024-03-01T13:30:00Z"));
  EXPECT_EQ(i.zone, "DE");
  EXPECT_EQ(i.dataset, "hourly-series");
  EXPECT_EQ(i.source, "hours.csv");
  EXPECT_EQ(i.year, 2024);
  EXPECT_EQ(s->end(), at("2024-03-01T15:00:00Z"));

  EXPECT_EQ(s->at(at("2024-03-01T15:00:00Z")).error(),
            "hours.csv covers 2024-03-01T12:00:00Z to 2024-03-01T15:00:00Z; no intensity for "
            "2024-03-01T15:00:00Z");
  EXPECT_FALSE(s->at(at("2024-03-01T11:59:59Z")).has_value());

  EXPECT_EQ(s->next_change_after(at("2024-03-01T12:10:00Z")), at("2024-03-01T13:00:00Z"));
  EXPECT_EQ(s->next_change_after(at("2024-03-01T13:00:00Z")), at("2024-03-01T14:00:00Z"));
  EXPECT_EQ(s->next_change_after(at("2024-03-01T14:10:00Z")), at("2024-03-01T15:00:00Z"));
  EXPECT_FALSE(s->next_change_after(at("2024-03-01T15:00:00Z")).has_value());
}

TEST(HourlySeries, BadRowsNameTheLine) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"timestamp,kg_per_kwh\n2024-03-01T12:00Z,0.2\nnoon,0.3\n",
       "s.csv:3: field 'timestamp': not an ISO 8601 timestamp (like 2024-03-01T13:00:00Z): "
       "'noon'"},
      {"timestamp,kg_per_kwh\n2024-03-01T12:00Z,lots\n",
       "s.csv:2: field 'kg_per_kwh': not a number: 'lots'"},
      {"timestamp,kg_per_kwh\n2024-03-01T12:00Z,250\n",
       "s.csv:2: field 'kg_per_kwh': 250 kg/kWh is implausible (g/kWh given?)"},
      {"timestamp,kg_per_kwh\n2024-03-01T12:00Z,0.2\n2024-03-01T12:00Z,0.3\n",
       "s.csv:3: field 'timestamp': timestamp 2024-03-01T12:00:00Z is not after the one on line 2 "
       "(2024-03-01T12:00:00Z); rows must be in time order"},
      {"timestamp,kg_per_kwh\n", "s.csv:1: no rows after the header"},
      {"time,kg_per_kwh\n2024-03-01T12:00Z,0.2\n", "s.csv:1: the header has no column 'timestamp'"},
      {"timestamp,kg_per_kwh\n2024-03-01T12:00Z\n",
       "s.csv:2: expected 2 fields as in the header, found 1"},
  };
  for (const auto& c : cases) {
    const auto s = HourlySeries::parse(c.text, "s.csv");
    ASSERT_FALSE(s.has_value()) << c.text;
    EXPECT_EQ(s.error(), c.error);
  }
}

TEST(HourlySeries, HalfHourlySeriesAndLoadFile) {
  const auto s = HourlySeries::parse(
      "timestamp,kg_per_kwh\n2024-01-01T00:00Z,0.1\n2024-01-01T00:30Z,0.2\n", "half.csv");
  ASSERT_TRUE(s.has_value()) << s.error();
  EXPECT_EQ(s->end(), at("2024-01-01T01:00Z"));  // the last value holds for the last step
  EXPECT_FALSE(HourlySeries::load_file("/nonexistent/series.csv").has_value());
}

}  // namespace
}  // namespace jobcarbon::carbon

namespace jobcarbon::carbon {
namespace {

// Mutated series files never crash the parser, and every error names the file and a line.
TEST(HourlySeriesProperty, MutatedFilesParseOrNameALine) {
  std::mt19937 rng(7);  // fixed seed: failures are reproducible
  const std::string valid =
      "timestamp,kg_per_kwh\n2024-03-01T12:00:00Z,0.2\n2024-03-01T13:00:00Z,0.3\n";
  const std::string alphabet = "0123456789-:TZ.,\"\n x+";
  static const std::regex kError(R"(^s\.csv:[0-9]+: .+)");
  int parsed = 0, failed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = valid;
    for (int e = std::uniform_int_distribution<int>(1, 3)(rng); e > 0; --e) {
      const auto pos = std::uniform_int_distribution<std::size_t>(0, text.size() - 1)(rng);
      text[pos] = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    }
    const auto s = HourlySeries::parse(text, "s.csv");
    if (s) {
      ++parsed;
      EXPECT_LT(s->begin(), s->end());
    } else {
      ++failed;
      EXPECT_TRUE(std::regex_match(s.error(), kError))
          << testing::PrintToString(text) << " -> " << s.error();
    }
  }
  EXPECT_GT(parsed, 100);
  EXPECT_GT(failed, 100);
}

}  // namespace
}  // namespace jobcarbon::carbon
