#include <jobcarbon/carbon/text_match.hpp>

#include <gtest/gtest.h>

namespace jobcarbon::carbon {
namespace {

TEST(TextMatch, EditDistance) {
  EXPECT_EQ(edit_distance("germny", "germany"), 1u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("abc", "abc"), 0u);
}

TEST(TextMatch, FoldsCaseAndLatinAccents) {
  EXPECT_EQ(fold("Tōkyō"), "tokyo");
  EXPECT_EQ(fold("Québec"), "quebec");
  EXPECT_EQ(fold("Åland Türkiye Łódź"), "aland turkiye lodz");
  EXPECT_EQ(fold("a×b"), "a×b");    // no base letter: kept
  EXPECT_EQ(fold("\xC3"), "\xC3");  // truncated UTF-8: kept
  EXPECT_EQ(upper("us-cal-ciso"), "US-CAL-CISO");
  EXPECT_EQ(trim("  de \t"), "de");
}

}  // namespace
}  // namespace jobcarbon::carbon
