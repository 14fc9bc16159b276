#include <jobcarbon/policy/budget_limit.hpp>

#include <gtest/gtest.h>

namespace jobcarbon::policy {
namespace {

constexpr std::int64_t kUjPerKwh = 3'600'000'000'000;

double kg(std::string_view text) {
  const auto r = parse_co2_limit(text);
  EXPECT_TRUE(r.has_value()) << text << ": " << (r ? "" : r.error());
  return r ? r->value : -1;
}

std::string co2_error(std::string_view text) {
  const auto r = parse_co2_limit(text);
  EXPECT_FALSE(r.has_value()) << text << " parsed as " << (r ? r->value : 0);
  return r ? "" : r.error();
}

TEST(Co2Limit, UnitsScaleByExactPowersOfTen) {
  EXPECT_EQ(kg("1200kg"), 1200.0);
  EXPECT_EQ(kg("1200 kg"), 1200.0);
  EXPECT_EQ(kg("1.2t"), 1200.0);  // exact, not 1.2 × 1000 in binary
  EXPECT_EQ(kg("1.5 tonnes"), 1500.0);
  EXPECT_EQ(kg("1 tonne"), 1000.0);
  EXPECT_EQ(kg("500g"), 0.5);
  EXPECT_EQ(kg("2 grams"), 0.002);
  EXPECT_EQ(kg("3 kilograms"), 3.0);
  EXPECT_EQ(kg("0.1 kg"), 0.1);
  EXPECT_EQ(kg(".5kg"), 0.5);
  EXPECT_EQ(kg("1.2e3kg"), 1200.0);
  EXPECT_EQ(kg("12E-1 t"), 1200.0);
  EXPECT_EQ(kg("+7kg"), 7.0);
}

TEST(Co2Limit, CaseSpacesAndCo2SuffixAreAccepted) {
  EXPECT_EQ(kg("1200KG"), 1200.0);
  EXPECT_EQ(kg("  1200\tKg  "), 1200.0);
  EXPECT_EQ(kg("2 t CO2"), 2000.0);
  EXPECT_EQ(kg("2tCO2e"), 2000.0);
  EXPECT_EQ(kg("1200 kg co2"), 1200.0);
  EXPECT_EQ(kg("1.5 T"), 1500.0);
}

TEST(Co2Limit, ZeroIsALimitOfNothing) {
  EXPECT_EQ(kg("0kg"), 0.0);
  EXPECT_EQ(kg("0.000 t"), 0.0);
  EXPECT_EQ(kg("0e999999kg"), 0.0);  // zero at any exponent is zero, not out of range
}

TEST(Co2Limit, ErrorsNameTheInputAndWhatIsWrong) {
  EXPECT_EQ(co2_error("-5kg"), "CO2 limit '-5kg' is negative; it must be 0 or more");
  EXPECT_EQ(co2_error("1e400kg"), "CO2 limit '1e400kg' is out of range (too large)");
  EXPECT_EQ(co2_error("1e308t"), "CO2 limit '1e308t' is out of range (too large)");
  EXPECT_EQ(co2_error("1e-400kg"), "CO2 limit '1e-400kg' is out of range (too small)");
  EXPECT_EQ(co2_error("abc"), "CO2 limit 'abc' is not a number; write e.g. 1200kg");
  EXPECT_EQ(co2_error("12 parsecs"),
            "CO2 limit '12 parsecs' has an unknown unit 'parsecs'; use g, kg or t (tonnes), "
            "optionally followed by CO2");
  EXPECT_EQ(co2_error(""), "empty CO2 limit; write e.g. 1200kg");
  EXPECT_EQ(co2_error("   "), "empty CO2 limit; write e.g. 1200kg");
  EXPECT_EQ(co2_error("1200"), "CO2 limit '1200' has no unit; write e.g. 1200kg, 1.2t or 500g");
  EXPECT_EQ(co2_error("1200 CO2"),
            "CO2 limit '1200 CO2' has no unit; write e.g. 1200kg, 1.2t or 500g");
  EXPECT_EQ(co2_error("NaN"), "CO2 limit 'NaN' is not a finite number");
  EXPECT_EQ(co2_error("inf kg"), "CO2 limit 'inf kg' is not a finite number");
  EXPECT_EQ(co2_error("Infinity"), "CO2 limit 'Infinity' is not a finite number");
  EXPECT_NE(co2_error("2 tons").find("ambiguous"), std::string::npos);
  EXPECT_NE(co2_error("5e kg").find("unknown unit 'e kg'"), std::string::npos);
  EXPECT_NE(co2_error("1,200kg").find("unknown unit ',200kg'"), std::string::npos);
  EXPECT_NE(co2_error("0x10kg").find("unknown unit 'x10kg'"), std::string::npos);
  EXPECT_NE(co2_error("1200 kg kg").find("unknown unit"), std::string::npos);
}

TEST(Co2Limit, FormatIsInKilogramsAndParsesBack) {
  EXPECT_EQ(format_co2_limit(KgCo2{1200}), "1200 kg");
  EXPECT_EQ(format_co2_limit(KgCo2{0.5}), "0.5 kg");
  EXPECT_EQ(format_co2_limit(KgCo2{0}), "0 kg");
  for (double v : {0.1, 1.0 / 3.0, 1e-9, 1234567.891, 1e300}) {
    EXPECT_EQ(kg(format_co2_limit(KgCo2{v})), v) << v;
  }
}

TEST(EnergyLimit, UnitsToExactMicrojoules) {
  EXPECT_EQ(parse_energy_limit("35000kWh").value(), Microjoules(35'000 * kUjPerKwh));
  EXPECT_EQ(parse_energy_limit("35000").value(), Microjoules(35'000 * kUjPerKwh));  // bare: kWh
  EXPECT_EQ(parse_energy_limit("1.5 MWh").value(), Microjoules(1'500 * kUjPerKwh));
  EXPECT_EQ(parse_energy_limit("2 mwh").value(), Microjoules(2'000 * kUjPerKwh));
  EXPECT_EQ(parse_energy_limit("1 Wh").value(), Microjoules(3'600'000'000));
  EXPECT_EQ(parse_energy_limit("0.1kwh").value(), Microjoules(360'000'000'000));
  EXPECT_EQ(parse_energy_limit("0 kWh").value(), Microjoules(0));
  // 1e-13 kWh = 0.36 µJ rounds to 0 µJ: refused rather than read as no energy at all.
  ASSERT_FALSE(parse_energy_limit("1e-13 kWh").has_value());
  EXPECT_EQ(parse_energy_limit("1e-13 kWh").error(),
            "energy limit '1e-13 kWh' is out of range (too small; below one microjoule)");
  EXPECT_EQ(parse_energy_limit("1e-12 kWh").value(), Microjoules(4));  // 3.6 µJ
  // 1.5e-12 kWh = 5.4 µJ → 5 µJ; 2.5e-12 kWh = 9 µJ exactly.
  EXPECT_EQ(parse_energy_limit("1.5e-12").value(), Microjoules(5));
  EXPECT_EQ(parse_energy_limit("2.5e-12").value(), Microjoules(9));
}

TEST(EnergyLimit, RangeIsThatOfMicrojoules) {
  // int64 µJ ends at 9,223,372,036,854,775,807 µJ ≈ 2562.05 MWh.
  EXPECT_EQ(parse_energy_limit("2562 MWh").value(), Microjoules(2'562'000 * kUjPerKwh));
  EXPECT_EQ(parse_energy_limit("2563 MWh").error(),
            "energy limit '2563 MWh' is out of range (too large; at most 2562 MWh)");
  EXPECT_FALSE(parse_energy_limit("1e400kWh").has_value());
  EXPECT_EQ(parse_energy_limit("-1kWh").error(),
            "energy limit '-1kWh' is negative; it must be 0 or more");
  EXPECT_EQ(parse_energy_limit("5 kW").error(),
            "energy limit '5 kW' has an unknown unit 'kw'; use Wh, kWh or MWh");
  EXPECT_EQ(parse_energy_limit("nan").error(), "energy limit 'nan' is not a finite number");
  EXPECT_EQ(parse_energy_limit("").error(), "empty energy limit; write e.g. 35000kWh");
  EXPECT_NE(parse_energy_limit("1.0000000000000000000000000000001kWh").error().find("significant"),
            std::string::npos);
}

TEST(EnergyLimit, FormatInKwhParsesBackExactly) {
  EXPECT_EQ(format_energy_limit(Microjoules(1'500 * kUjPerKwh)), "1500 kWh");
  EXPECT_EQ(format_energy_limit(Microjoules(5'400'000'000'000)), "1.5 kWh");
  EXPECT_EQ(format_energy_limit(Microjoules(0)), "0 kWh");
  // 1 µJ = 2.7777…e-13 kWh → 3e-13 kWh at 13 places, which reads back as 1.08 µJ → 1 µJ.
  EXPECT_EQ(format_energy_limit(Microjoules(1)), "0.0000000000003 kWh");
  for (std::int64_t uj : {std::int64_t{1}, std::int64_t{2}, std::int64_t{7}, kUjPerKwh - 1,
                          std::numeric_limits<std::int64_t>::max()}) {
    EXPECT_EQ(parse_energy_limit(format_energy_limit(Microjoules(uj))).value(), Microjoules(uj))
        << uj;
  }
}

TEST(WarnThreshold, PercentOrFraction) {
  EXPECT_EQ(parse_warn_threshold("80%").value().basis_points, 8000);
  EXPECT_EQ(parse_warn_threshold("80 %").value().basis_points, 8000);
  EXPECT_EQ(parse_warn_threshold("0.8").value().basis_points, 8000);
  EXPECT_EQ(parse_warn_threshold("82.5%").value().basis_points, 8250);
  EXPECT_EQ(parse_warn_threshold("0.0001").value().basis_points, 1);
  EXPECT_EQ(parse_warn_threshold("100%").value().basis_points, 10000);
  EXPECT_EQ(parse_warn_threshold("1").value().basis_points, 10000);
  EXPECT_EQ(parse_warn_threshold("0%").value().basis_points, 0);
  EXPECT_EQ(WarnThreshold{}.basis_points, 8000);  // the default
}

TEST(WarnThreshold, ErrorsNameTheInput) {
  EXPECT_EQ(parse_warn_threshold("80").error(),
            "warn threshold '80' is a fraction above 1 (0.8 means 80%); did you mean 80%?");
  EXPECT_EQ(parse_warn_threshold("1.5").error(),
            "warn threshold '1.5' is a fraction above 1 (0.8 means 80%)");
  EXPECT_EQ(parse_warn_threshold("120%").error(), "warn threshold '120%' is above 100%");
  EXPECT_EQ(parse_warn_threshold("1e400%").error(), "warn threshold '1e400%' is above 100%");
  EXPECT_EQ(parse_warn_threshold("-10%").error(),
            "warn threshold '-10%' is negative; it must be 0 or more");
  EXPECT_EQ(parse_warn_threshold("80.005%").error(),
            "warn threshold '80.005%' is finer than 0.01%, the threshold's resolution");
  EXPECT_EQ(parse_warn_threshold("eighty").error(),
            "warn threshold 'eighty' is not a number; write e.g. 80%");
  EXPECT_EQ(parse_warn_threshold("80 percent").error(),
            "warn threshold '80 percent' must be a percentage (80%) or a fraction (0.8), not "
            "'percent'");
}

TEST(WarnThreshold, FormatParsesBack) {
  EXPECT_EQ(format_warn_threshold(WarnThreshold{8000}), "80%");
  EXPECT_EQ(format_warn_threshold(WarnThreshold{8250}), "82.5%");
  EXPECT_EQ(format_warn_threshold(WarnThreshold{1}), "0.01%");
  EXPECT_EQ(format_warn_threshold(WarnThreshold{0}), "0%");
  for (std::int32_t bp = 0; bp <= 10000; ++bp) {
    ASSERT_EQ(parse_warn_threshold(format_warn_threshold(WarnThreshold{bp})).value().basis_points,
              bp);
  }
}

TEST(DisplayKg, ReadableAndAlwaysInKg) {
  EXPECT_EQ(display_kg(KgCo2{1200}), "1200 kg");
  EXPECT_EQ(display_kg(KgCo2{812.44}), "812.4 kg");
  EXPECT_EQ(display_kg(KgCo2{0.354}), "0.35 kg");
  EXPECT_EQ(display_kg(KgCo2{5}), "5 kg");
  EXPECT_EQ(display_kg(KgCo2{0.012}), "12 g");
  EXPECT_EQ(display_kg(KgCo2{1.58e-6}), "1.6 mg");  // not "0 g": a short run used something
  EXPECT_EQ(display_kg(KgCo2{0}), "0 kg");
}

}  // namespace
}  // namespace jobcarbon::policy
