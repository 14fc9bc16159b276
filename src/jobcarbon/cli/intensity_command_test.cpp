#include <jobcarbon/cli/intensity_command.hpp>

#include <stdexcept>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace jobcarbon::cli {
namespace {

// A small table: the command's rendering is checked against hand-written output.
carbon::IntensityTable small_table() {
  auto t = carbon::IntensityTable::parse(
      "zone,name,alpha2,alpha3,dataset,default,year,kg_per_kwh,basis,source,licence,note\n"
      "WORLD,World,,,ember,yes,2024,0.47294,\"lifecycle, generation\",Ember,CC-BY-4.0,\n"
      "DE,Germany,DE,DEU,ember,yes,2024,0.34206,\"lifecycle, generation\",Ember,CC-BY-4.0,\n"
      "DE,Germany,DE,DEU,eea-2016-study,,2016,0.441,\"direct, generation\",EEA 2016 figures as "
      "quoted by the study,EEA,\n"
      "CA-QC,Québec (Canada),,,electricitymaps,yes,2024,0.035,\"lifecycle, "
      "consumption\",Electricity "
      "Maps,ODbL-1.0,n\n",
      "t.csv");
  if (!t) throw std::runtime_error(t.error());
  return std::move(*t);
}

IntensityQuery query(std::string text, std::string dataset = "", bool json = false) {
  IntensityQuery q;
  q.query = std::move(text);
  q.dataset = std::move(dataset);
  q.json = json;
  return q;
}

TEST(IntensityCommand, AlignedTableWithDefaultsMarkedAndCredits) {
  const auto out = run_intensity_query(small_table(), query("de"));
  EXPECT_EQ(out,
            "zone  name     dataset         year  kg/kWh  basis                  source\n"
            "DE    Germany  ember *         2024  0.3421  lifecycle, generation  Ember\n"
            "DE    Germany  eea-2016-study  2016  0.4410  direct, generation     EEA 2016 figures "
            "as quoted by the study\n"
            "2 rows; * marks the default dataset of a zone (used without --dataset).\n"
            "Data: Ember: CC-BY-4.0; EEA 2016 figures as quoted by the study: EEA.\n");
}

TEST(IntensityCommand, AlignsUtf8NamesByCharacter) {
  const auto out = run_intensity_query(small_table(), query("quebec"));
  EXPECT_EQ(out,
            "zone   name             dataset            year  kg/kWh  basis                   "
            "source\n"
            "CA-QC  Québec (Canada)  electricitymaps *  2024  0.0350  lifecycle, consumption  "
            "Electricity Maps\n"
            "1 row; * marks the default dataset of a zone (used without --dataset).\n"
            "Data: Electricity Maps: ODbL-1.0.\n");
}

TEST(IntensityCommand, DatasetFilterAndJson) {
  const auto out = run_intensity_query(small_table(), query("", "eea-2016-study", true));
  const auto j = nlohmann::json::parse(out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["zone"], "DE");
  EXPECT_EQ(j[0]["alpha3"], "DEU");
  EXPECT_EQ(j[0]["kg_per_kwh"], 0.441);
  EXPECT_EQ(j[0]["default"], false);
  EXPECT_EQ(j[0]["year"], 2016);
  EXPECT_EQ(j[0]["source"], "EEA 2016 figures as quoted by the study");
}

TEST(IntensityCommand, ErrorsListDatasetsAndCloseMatches) {
  try {
    run_intensity_query(small_table(), query("Germny"));
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "no zone matches 'Germny'; closest matches: DE (Germany)");
  }
  try {
    run_intensity_query(small_table(), query("de", "nope"));
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(),
                 "--dataset: unknown dataset 'nope'; datasets: ember, eea-2016-study, "
                 "electricitymaps");
  }
}

TEST(IntensityCommand, EmbeddedTableListsEverything) {
  auto table = carbon::IntensityTable::load_embedded();
  ASSERT_TRUE(table.has_value()) << table.error();
  const auto out = run_intensity_query(*table, query(""));
  // The world first, and the licence credits of every source.
  EXPECT_TRUE(out.starts_with("zone ")) << out.substr(0, 200);
  EXPECT_NE(out.find("\nWORLD "), std::string::npos);
  EXPECT_LT(out.find("\nWORLD "), out.find("\nAE "));
  for (const char* credit :
       {"CC-BY-4.0 (Ember)", "ODbL-1.0 (Electricity Maps)", "CC-BY-4.0 (Green Algorithms)",
        "EEA 2016 figures as quoted by the "
        "study"}) {
    EXPECT_NE(out.find(credit), std::string::npos) << credit;
  }
}

}  // namespace
}  // namespace jobcarbon::cli
