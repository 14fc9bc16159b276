// Property tests of the limit parsers: whatever a person (or a script) types, each parser returns
// a value or an error and never crashes; every value it returns is in range; and a parsed limit,
// formatted, parses back to the same value.
#include <jobcarbon/policy/budget_limit.hpp>

#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace jobcarbon::policy {
namespace {

// Return a random string biased toward the pieces limits are made of, so that both valid and
// invalid inputs are common.
std::string random_text(std::mt19937_64& rng) {
  static const std::vector<std::string> kPieces = {"0",
                                                   "1",
                                                   "2",
                                                   "5",
                                                   "9",
                                                   "12",
                                                   "1200",
                                                   ".",
                                                   ".",
                                                   "e",
                                                   "E",
                                                   "-",
                                                   "+",
                                                   "%",
                                                   " ",
                                                   " ",
                                                   "kg",
                                                   "KG",
                                                   "t",
                                                   "g",
                                                   "tonnes",
                                                   "co2",
                                                   "CO2e",
                                                   "kwh",
                                                   "MWh",
                                                   "wh",
                                                   "nan",
                                                   "inf",
                                                   "x",
                                                   "e400",
                                                   "e-400",
                                                   "e99999999999",
                                                   "00000000000000000000000001"};
  static const std::vector<std::string> kUnits = {"kg", "t",    "g",   " kg", " T CO2", "%",
                                                  "",   " kWh", "MWh", "wh",  "tonnes"};
  std::string s;
  if (rng() % 2 == 0) {
    // Shaped like a limit (number, fraction, exponent, unit), sometimes with one byte changed.
    s = std::to_string(rng() % (rng() % 2 ? 100'000 : 101));
    if (rng() % 2) s += "." + std::to_string(rng() % 1000);
    if (rng() % 4 == 0) s += "e" + std::to_string(static_cast<int>(rng() % 40) - 20);
    s += kUnits[rng() % kUnits.size()];
    if (rng() % 4 == 0) s[rng() % s.size()] = static_cast<char>(rng() % 256);
    return s;
  }
  const int n = static_cast<int>(rng() % 7);
  for (int i = 0; i < n; ++i) {
    if (rng() % 8 == 0) {
      s += static_cast<char>(rng() % 256);  // any byte, NUL and UTF-8 fragments included
    } else {
      s += kPieces[rng() % kPieces.size()];
    }
  }
  return s;
}

TEST(LimitParsersProperty, RandomTextNeverCrashesAndValuesRoundTrip) {
  std::mt19937_64 rng(20260401);
  int co2_ok = 0, energy_ok = 0, warn_ok = 0;
  for (int i = 0; i < 200'000; ++i) {
    const std::string text = random_text(rng);
    if (const auto kg = parse_co2_limit(text)) {
      ++co2_ok;
      ASSERT_TRUE(std::isfinite(kg->value) && kg->value >= 0) << text;
      const auto back = parse_co2_limit(format_co2_limit(*kg));
      ASSERT_TRUE(back.has_value()) << text << " → " << format_co2_limit(*kg);
      ASSERT_EQ(back->value, kg->value) << text;
    } else {
      ASSERT_NE(kg.error().find("limit"), std::string::npos) << kg.error();
    }
    if (const auto uj = parse_energy_limit(text)) {
      ++energy_ok;
      ASSERT_GE(uj->value, 0) << text;
      const auto back = parse_energy_limit(format_energy_limit(*uj));
      ASSERT_TRUE(back.has_value()) << text << " → " << format_energy_limit(*uj);
      ASSERT_EQ(*back, *uj) << text;
    }
    if (const auto w = parse_warn_threshold(text)) {
      ++warn_ok;
      ASSERT_GE(w->basis_points, 0) << text;
      ASSERT_LE(w->basis_points, 10'000) << text;
      ASSERT_EQ(parse_warn_threshold(format_warn_threshold(*w)).value(), *w) << text;
    }
  }
  // Both outcomes must be common, or the test proves little.
  EXPECT_GT(co2_ok, 2'000);
  EXPECT_GT(energy_ok, 2'000);
  EXPECT_GT(warn_ok, 2'000);
  EXPECT_LT(co2_ok, 150'000);
  RecordProperty("co2_ok", co2_ok);
  RecordProperty("energy_ok", energy_ok);
  RecordProperty("warn_ok", warn_ok);
}

TEST(LimitParsersProperty, RandomMicrojoulesRoundTrip) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100'000; ++i) {
    // Spread over all magnitudes, not only near the top of the range.
    const auto uj = static_cast<std::int64_t>(rng() >> (1 + rng() % 63));
    const auto back = parse_energy_limit(format_energy_limit(Microjoules(uj)));
    ASSERT_TRUE(back.has_value()) << uj;
    ASSERT_EQ(back->value, uj);
  }
}

TEST(LimitParsersProperty, RandomKilogramsRoundTrip) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> exponent(-12, 12);
  for (int i = 0; i < 100'000; ++i) {
    const double v = std::pow(10.0, exponent(rng));
    const auto back = parse_co2_limit(format_co2_limit(KgCo2{v}));
    ASSERT_TRUE(back.has_value()) << v;
    ASSERT_EQ(back->value, v);
  }
}

}  // namespace
}  // namespace jobcarbon::policy
