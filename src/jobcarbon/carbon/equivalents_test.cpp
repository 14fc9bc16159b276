#include <jobcarbon/carbon/equivalents.hpp>

#include <map>

#include <gtest/gtest.h>

namespace jobcarbon::carbon {
namespace {

std::map<std::string, Equivalent> by_key(const std::vector<Equivalent>& list) {
  std::map<std::string, Equivalent> out;
  for (const auto& e : list) out.emplace(e.key, e);
  return out;
}

TEST(Equivalents, TheStudysExampleThirtyKwhIsThreeHouseholdDays) {
  const auto table = EquivalentsTable::load_embedded();
  ASSERT_TRUE(table.has_value()) << table.error();
  // 30 kWh facility at 0.296 kg/kWh = 8.88 kg.
  const auto eq = by_key(table->compute(KgCo2{8.88}, 30.0));
  ASSERT_TRUE(eq.contains("household_days"));
  const auto& days = eq.at("household_days");
  EXPECT_NEAR(days.value, 3.0, 1e-12);
  EXPECT_EQ(days.name, "household-days of electricity");
  EXPECT_EQ(days.factor_text, "10 kWh per household per day");
  EXPECT_EQ(days.source, "the original study");

  EXPECT_NEAR(eq.at("tree_seedlings_10y").value, 8.88 / 60, 1e-12);  // 0.148 seedlings
  EXPECT_EQ(eq.at("tree_seedlings_10y").name, "tree seedlings grown for 10 years");
  EXPECT_EQ(eq.at("tree_seedlings_10y").source, "US EPA Greenhouse Gas Equivalencies Calculator");
  EXPECT_NEAR(eq.at("tree_years").value, 8.88 / 11, 1e-12);  // 0.807 tree-years
  EXPECT_EQ(eq.at("tree_years").factor_text, "11 kg CO2 absorbed per tree per year");
  EXPECT_NEAR(eq.at("car_km_eu").value, 8.88 / 0.175, 1e-9);  // 50.7 km
  EXPECT_EQ(eq.at("car_km_eu").factor_text, "0.175 kg CO2 per km");
  EXPECT_EQ(eq.at("car_km_eu").year, 2019);
  EXPECT_FALSE(eq.at("household_days").year.has_value());
}

TEST(Equivalents, ElectricityUsesFacilityEnergyAndCo2UsesKg) {
  const auto table = EquivalentsTable::parse(
      "key,name,applies_to,factor,factor_unit,source,citation,year\n"
      "e,things per kWh,kwh_facility,2,kWh per thing,S,C,2020\n"
      "c,things per kg,kg_co2,4,kg CO2 per thing,S,C,\n",
      "t.csv");
  ASSERT_TRUE(table.has_value()) << table.error();
  const auto eq = table->compute(KgCo2{8}, 6);
  ASSERT_EQ(eq.size(), 2u);
  EXPECT_DOUBLE_EQ(eq[0].value, 3.0);  // 6 kWh / 2
  EXPECT_DOUBLE_EQ(eq[1].value, 2.0);  // 8 kg / 4
}

TEST(Equivalents, MalformedRowsNameFileLineAndField) {
  const std::string header = "key,name,applies_to,factor,factor_unit,source,citation,year\n";
  struct Case {
    std::string row;
    std::string error;
  };
  const Case cases[] = {
      {"a,A,kg,1,u,S,C,2020\n",
       "t.csv:2: field 'applies_to': expected 'kg_co2' or 'kwh_facility', found 'kg'"},
      {"a,A,kg_co2,0,u,S,C,2020\n", "t.csv:2: field 'factor': must be greater than 0"},
      {"a,A,kg_co2,ten,u,S,C,2020\n", "t.csv:2: field 'factor': not a number: 'ten'"},
      {"a,A,kg_co2,1,u,,C,2020\n",
       "t.csv:2: field 'source': empty (every factor needs its source)"},
      {"a,A,kg_co2,1,u,S,C,2020\na,B,kg_co2,1,u,S,C,2020\n",
       "t.csv:3: field 'key': 'a' appears twice"},
      {"a,A,kg_co2,1,u,S,C,20x\n", "t.csv:2: field 'year': not an integer: '20x'"},
  };
  for (const auto& c : cases) {
    const auto t = EquivalentsTable::parse(header + c.row, "t.csv");
    ASSERT_FALSE(t.has_value()) << c.row;
    EXPECT_EQ(t.error(), c.error);
  }
}

}  // namespace
}  // namespace jobcarbon::carbon
