#include <jobcarbon/carbon/intensity_table.hpp>

#include <set>

#include <gtest/gtest.h>

namespace jobcarbon::carbon {
namespace {

// The start-up fast path must answer every lookup exactly as the whole table does.
TEST(IntensitySubset, EveryCodeAndDatasetAnswersAsTheWholeTable) {
  const auto full = IntensityTable::load_embedded();
  ASSERT_TRUE(full) << full.error();
  std::set<std::string> codes;
  for (const auto& r : full->rows()) {
    for (const auto* c : {&r.zone, &r.alpha2, &r.alpha3, &r.name}) {
      if (!c->empty()) codes.insert(*c);
    }
  }
  codes.insert("de");
  codes.insert("UK");
  const auto datasets = full->datasets();
  int checked = 0;
  for (const auto& code : codes) {
    const auto sub = IntensityTable::load_embedded_for(code);
    ASSERT_TRUE(sub) << code << ": " << sub.error();
    for (const std::string_view ds : {std::string_view()}) {
      const auto a = full->lookup(code, ds);
      const auto b = sub->lookup(code, ds);
      ASSERT_EQ(a.has_value(), b.has_value()) << code;
      if (a) {
        EXPECT_EQ(a->zone, b->zone) << code;
        EXPECT_EQ(a->dataset, b->dataset) << code;
        EXPECT_EQ(a->kg_per_kwh, b->kg_per_kwh) << code;
        ++checked;
      }
    }
    for (const auto& ds : datasets) {
      const auto a = full->lookup(code, ds);
      const auto b = sub->lookup(code, ds);
      if (a) {
        ASSERT_TRUE(b) << code << " " << ds;
        EXPECT_EQ(a->kg_per_kwh, b->kg_per_kwh);
      }
    }
    EXPECT_TRUE(sub->world()) << code;
    EXPECT_LT(sub->rows().size(), full->rows().size()) << code;
  }
  EXPECT_GT(checked, 400);
}

TEST(IntensitySubset, UnknownCodeGivesTheWholeTableForItsError) {
  const auto sub = IntensityTable::load_embedded_for("Germny");
  ASSERT_TRUE(sub);
  const auto r = sub->lookup("Germny");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("DE (Germany)"), std::string::npos) << r.error();
}

TEST(IntensitySubset, NoCodeGivesTheWorldRows) {
  const auto sub = IntensityTable::load_embedded_for("");
  ASSERT_TRUE(sub);
  const auto w = sub->world();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->zone, "WORLD");
  EXPECT_EQ(w->kg_per_kwh, IntensityTable::load_embedded()->world()->kg_per_kwh);
}

}  // namespace
}  // namespace jobcarbon::carbon
