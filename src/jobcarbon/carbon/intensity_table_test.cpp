#include <jobcarbon/carbon/intensity_table.hpp>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include <jobcarbon/data/embedded.hpp>

namespace jobcarbon::carbon {
namespace {

std::string source_file(const std::string& relative) {
  std::ifstream in(std::string(JOBCARBON_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const IntensityTable& table() {
  static const IntensityTable t = [] {
    auto loaded = IntensityTable::load_embedded();
    if (!loaded) throw std::runtime_error(loaded.error());
    return std::move(*loaded);
  }();
  return t;
}

TEST(EmbeddedData, HoldsTheDataTablesByteForByte) {
  for (const char* name : {"intensity.csv", "equivalents.csv", "cpu_tdp.csv"}) {
    const auto embedded = data::embedded_file(name);
    ASSERT_TRUE(embedded.has_value()) << name;
    const std::string on_disk = source_file(std::string("data/") + name);
    ASSERT_FALSE(on_disk.empty()) << name;
    EXPECT_EQ(*embedded, on_disk) << name;
  }
  EXPECT_FALSE(data::embedded_file("nope.csv").has_value());
}

TEST(IntensityTable, LooksUpZoneIdAlpha2AndAlpha3CaseInsensitively) {
  for (const char* code : {"DE", "DEU", "de", "deu", " De ", "Germany"}) {
    const auto row = table().lookup(code);
    ASSERT_TRUE(row.has_value()) << code << ": " << row.error();
    EXPECT_EQ(row->zone, "DE") << code;
    EXPECT_EQ(row->dataset, "ember") << code;  // the default for countries
    EXPECT_TRUE(row->is_default);
  }
  const auto de = *table().lookup("DE");
  EXPECT_EQ(de.alpha3, "DEU");
  EXPECT_EQ(de.basis, "lifecycle, generation");
  EXPECT_EQ(de.licence, "CC-BY-4.0 (Ember)");
  EXPECT_GT(de.kg_per_kwh, 0.1);
  EXPECT_LT(de.kg_per_kwh, 1.0);
  EXPECT_GE(de.year, 2022);
}

TEST(IntensityTable, ReproducesTheStudysEea2016Figures) {
  const std::pair<const char*, double> expected[] = {{"EU", 0.296}, {"RO", 0.306}, {"ROU", 0.306},
                                                     {"DE", 0.441}, {"MT", 0.648}, {"mlt", 0.648}};
  for (const auto& [code, kg] : expected) {
    const auto row = table().lookup(code, "eea-2016-study");
    ASSERT_TRUE(row.has_value()) << code << ": " << row.error();
    EXPECT_DOUBLE_EQ(row->kg_per_kwh, kg) << code;
    EXPECT_EQ(row->year, 2016);
    EXPECT_EQ(row->source, "EEA 2016 figures as quoted by the study");
    EXPECT_EQ(row->basis, "direct, generation");
    EXPECT_FALSE(row->is_default);
  }
  // Exactly those four zones; the later EEA edition is kept apart with its own values.
  EXPECT_EQ(table().search("", "eea-2016-study").size(), 4u);
  EXPECT_DOUBLE_EQ(table().lookup("DE", "eea-owid-2016")->kg_per_kwh, 0.456);
  EXPECT_DOUBLE_EQ(table().lookup("EU", "eea-owid-2016")->kg_per_kwh, 0.305);
  EXPECT_DOUBLE_EQ(table().lookup("DE", "eea-owid-2020")->kg_per_kwh, 0.301);
}

TEST(IntensityTable, SubNationalZonesDefaultToElectricityMaps) {
  for (const char* zone : {"US-CAL-CISO", "SE-SE1", "us-cal-ciso"}) {
    const auto row = table().lookup(zone);
    ASSERT_TRUE(row.has_value()) << row.error();
    EXPECT_EQ(row->dataset, "electricitymaps");
    EXPECT_EQ(row->basis, "lifecycle, consumption");
    EXPECT_EQ(row->licence, "ODbL-1.0 (Electricity Maps)");
    EXPECT_EQ(row->year, 2024);
  }
  EXPECT_DOUBLE_EQ(table().lookup("US-CAL-CISO")->kg_per_kwh, 0.229);
  EXPECT_DOUBLE_EQ(table().lookup("SE-SE1")->kg_per_kwh, 0.015);
  EXPECT_DOUBLE_EQ(table().lookup("DE", "electricitymaps")->kg_per_kwh, 0.341);
}

TEST(IntensityTable, WorldAndEuRows) {
  const auto world = table().world();
  ASSERT_TRUE(world.has_value()) << world.error();
  EXPECT_EQ(world->zone, "WORLD");
  EXPECT_EQ(world->dataset, "ember");
  EXPECT_DOUBLE_EQ(world->kg_per_kwh, 0.47294);  // Ember 2024: 472.94 g/kWh
  EXPECT_EQ(world->year, 2024);
  const auto eu = table().lookup("eu");
  ASSERT_TRUE(eu.has_value()) << eu.error();
  EXPECT_DOUBLE_EQ(eu->kg_per_kwh, 0.21302);
}

TEST(IntensityTable, UnknownCodesListTheClosestMatches) {
  const auto xx = table().lookup("XX");
  ASSERT_FALSE(xx.has_value());
  EXPECT_TRUE(xx.error().starts_with("unknown zone or country code 'XX'; closest matches: "))
      << xx.error();
  EXPECT_NE(xx.error().find("XK (Kosovo)"), std::string::npos) << xx.error();

  const auto germny = table().lookup("Germny");
  ASSERT_FALSE(germny.has_value());
  EXPECT_TRUE(germny.error().starts_with(
      "unknown zone or country code 'Germny'; closest matches: DE (Germany)"))
      << germny.error();

  const auto matches = table().closest_matches("sweden");
  ASSERT_FALSE(matches.empty());
  EXPECT_EQ(matches.front(), "SE (Sweden)");
  // Accents are folded for matching, and noise is not offered as a match.
  EXPECT_EQ(table().closest_matches("tokyo"), (std::vector<std::string>{"JP-TK (Tōkyō (Japan))"}));
  EXPECT_EQ(table().lookup("QQQQ").error(),
            "unknown zone or country code 'QQQQ'; closest matches: none close (see `jobcarbon "
            "intensity`)");
}

TEST(IntensityTable, AcceptsTheReservedCodesPeopleUse) {
  EXPECT_EQ(table().lookup("UK")->zone, "GB");
  EXPECT_EQ(table().lookup("el")->zone, "GR");
}

TEST(IntensityTable, UnknownDatasetOrMissingRowListsWhatExists) {
  const auto bad = table().lookup("DE", "nope");
  ASSERT_FALSE(bad.has_value());
  EXPECT_TRUE(bad.error().starts_with("unknown dataset 'nope'; datasets: ember, ")) << bad.error();
  const auto missing = table().lookup("US-CAL-CISO", "eea-2016-study");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error(),
            "zone US-CAL-CISO has no row in dataset 'eea-2016-study'; it has: electricitymaps");
}

TEST(IntensityTable, SearchFindsByCodeAndNameDefaultFirst) {
  const auto romania = table().search("romania");
  ASSERT_GE(romania.size(), 5u);
  EXPECT_EQ(romania.front().zone, "RO");
  EXPECT_TRUE(romania.front().is_default);
  for (const auto& r : romania) EXPECT_EQ(r.zone, "RO");

  const auto sweden = table().search("sweden", "electricitymaps");
  std::vector<std::string> zones;
  for (const auto& r : sweden) zones.push_back(r.zone);
  EXPECT_EQ(zones, (std::vector<std::string>{"SE", "SE-SE1", "SE-SE2", "SE-SE3", "SE-SE4"}));

  EXPECT_EQ(table().search("").size(), table().rows().size());
  EXPECT_TRUE(table().search("no such place").empty());
}

// A small table for the error cases, LINES appended after the header and a world row.
std::string small_table(const std::string& lines) {
  return "zone,name,alpha2,alpha3,dataset,default,year,kg_per_kwh,basis,source,licence\n"
         "WORLD,World,,,a,yes,2024,0.47,\"lifecycle, generation\",S,L\n" +
         lines;
}

TEST(IntensityTable, MalformedTablesNameFileLineAndField) {
  struct Case {
    std::string lines;
    std::string error;
  };
  const Case cases[] = {
      {"DE,Germany,DE,DEU,a,yes,2024,abc,b,S,L\n",
       "t.csv:3: field 'kg_per_kwh': not a number: 'abc'"},
      {"DE,Germany,DE,DEU,a,yes,2024,441,b,S,L\n",
       "t.csv:3: field 'kg_per_kwh': 441 kg/kWh is implausible (g/kWh entered as kg/kWh?)"},
      {"DE,Germany,DE,DEU,a,yes,2024,-0.1,b,S,L\n", "t.csv:3: field 'kg_per_kwh': negative"},
      {"DE,Germany,DE,DEU,a,yes,16,0.4,b,S,L\n", "t.csv:3: field 'year': implausible year 16"},
      {"DE,Germany,D,DEU,a,yes,2024,0.4,b,S,L\n",
       "t.csv:3: field 'alpha2': not an ISO 3166 alpha-2 code: 'D'"},
      {"DE,Germany,DE,DEU,a,maybe,2024,0.4,b,S,L\n",
       "t.csv:3: field 'default': expected 'yes', 'no' or empty, found 'maybe'"},
      {"DE,Germany,DE,DEU,a,yes,2024,0.4,b,,L\n",
       "t.csv:3: field 'source': empty (every intensity needs its source)"},
      {"DE,Germany,DE,DEU,a,yes,2024,0.4,b,S,L\nde,Germany,DE,DEU,a,,2016,0.4,b,S,L\n",
       "t.csv:4: field 'dataset': zone DE already has a row in dataset 'a' (line 3)"},
      {"DE,Germany,DE,DEU,a,yes,2024,0.4,b,S,L\nDE,Germany,DE,DEU,c,yes,2016,0.4,b,S,L\n",
       "t.csv:4: field 'default': zone DE already has a default dataset (line 3)"},
      {"DE,Germany,DE,DEU,a,,2024,0.4,b,S,L\n",
       "t.csv:3: zone DE has no default dataset (mark one of its rows 'yes' in column 'default')"},
      {"DE,Germany,DE,DEU,a,yes,2024,0.4,b,S,L\nXY,Other,DE,,a,yes,2024,0.4,b,S,L\n",
       "t.csv:4: field 'alpha2': code DE already names zone DE (line 3)"},
      {"DE,Germany,DE,DEU,a,yes,2024,0.4\n",
       "t.csv:3: expected 11 fields as in the header, found 8"},
  };
  for (const auto& c : cases) {
    const auto t = IntensityTable::parse(small_table(c.lines), "t.csv");
    ASSERT_FALSE(t.has_value()) << c.lines;
    EXPECT_EQ(t.error(), c.error);
  }
  const auto no_world = IntensityTable::parse(
      "zone,name,alpha2,alpha3,dataset,default,year,kg_per_kwh,basis,source,licence\n"
      "DE,Germany,DE,DEU,a,yes,2024,0.4,b,S,L\n",
      "t.csv");
  ASSERT_FALSE(no_world.has_value());
  EXPECT_TRUE(no_world.error().starts_with("t.csv: no WORLD row")) << no_world.error();
  const auto no_column = IntensityTable::parse("zone,name\nWORLD,World\n", "t.csv");
  EXPECT_EQ(no_column.error(), "t.csv:1: the header has no column 'alpha2'");
}

TEST(IntensityTable, LoadsAnOverrideFile) {
  const std::string path = std::string(JOBCARBON_BINARY_DIR) + "/intensity_override_test.csv";
  {
    std::ofstream out(path);
    out << small_table("XA,Testland,XA,XAA,mine,yes,2025,0.123,\"direct, generation\",me,CC0\n");
  }
  const auto t = IntensityTable::load_file(path);
  ASSERT_TRUE(t.has_value()) << t.error();
  EXPECT_DOUBLE_EQ(t->lookup("xaa")->kg_per_kwh, 0.123);
  EXPECT_EQ(t->lookup("XA")->year, 2025);
  const auto missing = IntensityTable::load_file(path + ".missing");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace jobcarbon::carbon
