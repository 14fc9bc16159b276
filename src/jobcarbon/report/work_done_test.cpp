// Parsing the work a job states it did: accepted forms, refusals that name the problem, and a
// property test over random and mutated text (never crashes; what is accepted round-trips).
#include <jobcarbon/report/work_done.hpp>

#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace jobcarbon::report {
namespace {

TEST(ParseWork, AcceptsACountAndAUnit) {
  EXPECT_EQ(parse_work("115305030 images"), (WorkDone{115305030, "images"}));
  EXPECT_EQ(parse_work("  2.5e9\ttokens (train)\n"), (WorkDone{2.5e9, "tokens (train)"}));
  EXPECT_EQ(parse_work("0 samples\r\n"), (WorkDone{0, "samples"}));
  EXPECT_EQ(parse_work("12 Bilder à 224 px"), (WorkDone{12, "Bilder à 224 px"}));
}

TEST(ParseWork, RefusesWithTheReason) {
  auto why = [](std::string_view t) { return parse_work(t).error(); };
  EXPECT_NE(why("images").find("expected a number then a unit"), std::string::npos);
  EXPECT_NE(why("").find("expected a number"), std::string::npos);
  EXPECT_NE(why("-5 images").find("0 or more"), std::string::npos);
  EXPECT_NE(why("1e400 images").find("expected a number"), std::string::npos);  // out of range
  EXPECT_NE(why("inf images").find("finite"), std::string::npos);
  EXPECT_NE(why("nan images").find("finite"), std::string::npos);
  EXPECT_NE(why("42").find("no unit"), std::string::npos);
  EXPECT_NE(why("42images").find("blanks between"), std::string::npos);
  EXPECT_NE(why("1 a\n2 b").find("one line"), std::string::npos);
  EXPECT_NE(why("1 a\x1b[2J").find("control character"), std::string::npos);
  EXPECT_NE(why("1 " + std::string(65, 'x')).find("longer than 64"), std::string::npos);
  // The input is named, cut to 80 bytes, control characters shown as '?'.
  EXPECT_NE(why("abc\x07").find("'abc?'"), std::string::npos);
  EXPECT_NE(why(std::string(200, 'z')).find(std::string(80, 'z') + "...'"), std::string::npos);
}

TEST(ParseWork, PropertyRandomTextNeverBreaksItAndAcceptedTextRoundTrips) {
  std::mt19937_64 rng(20261127);
  const std::string alphabet = "0123456789.eE+- \t\nimages\x01\x7f\xc3\xa9";
  std::uniform_int_distribution<std::size_t> len(0, 40), pick(0, alphabet.size() - 1);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string t;
    const std::size_t n = len(rng);
    if (i % 2 == 0) t = fmt::format("{} images", i);  // a valid seed, then mutated
    for (std::size_t k = 0; k < n / 4; ++k) {
      if (t.empty()) break;
      t[std::uniform_int_distribution<std::size_t>(0, t.size() - 1)(rng)] = alphabet[pick(rng)];
    }
    if (i % 2 == 1) {
      for (std::size_t k = 0; k < n; ++k) t += alphabet[pick(rng)];
    }
    auto w = parse_work(t);
    if (!w) {
      EXPECT_NE(w.error().find("work '"), std::string::npos) << t;
      continue;
    }
    ++accepted;
    ASSERT_TRUE(w->count >= 0 && std::isfinite(w->count)) << t;
    ASSERT_FALSE(w->unit.empty()) << t;
    ASSERT_EQ(parse_work(fmt::format("{} {}", w->count, w->unit)), *w) << t;
  }
  EXPECT_GT(accepted, 1000);  // the mutations leave many valid inputs
}

}  // namespace
}  // namespace jobcarbon::report
