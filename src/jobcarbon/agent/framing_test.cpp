#include <jobcarbon/agent/framing.hpp>

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace jobcarbon::agent {
namespace {

std::vector<Frame> feed(LineFramer& framer, const std::vector<std::string>& chunks) {
  std::vector<Frame> all;
  for (const auto& c : chunks) {
    for (auto& f : framer.push(c)) all.push_back(std::move(f));
  }
  return all;
}

TEST(LineFramer, SplitsLinesAcrossAndWithinChunks) {
  LineFramer framer(16);
  const auto frames = feed(framer, {"ab", "c\nde", "f\n\ngh\n", "i"});
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], Frame("abc"));
  EXPECT_EQ(frames[1], Frame("def"));
  EXPECT_EQ(frames[2], Frame("gh"));  // the empty line between them is skipped
  EXPECT_EQ(framer.buffered(), 1u);   // "i" waits for its newline
  EXPECT_EQ(framer.close(), Frame(std::unexpected(FrameError::truncated)));
  EXPECT_EQ(framer.buffered(), 0u);
  EXPECT_FALSE(framer.close().has_value());
}

TEST(LineFramer, ALineOfExactlyTheLimitPassesOneMoreByteIsTooLong) {
  LineFramer framer(4);
  const auto frames = feed(framer, {"abcd\nabcde\nxy\n"});
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], Frame("abcd"));
  EXPECT_EQ(frames[1], Frame(std::unexpected(FrameError::too_long)));
  EXPECT_EQ(frames[2], Frame("xy"));
}

TEST(LineFramer, ATooLongLineIsReportedOnceAndItsRestDroppedWithoutBuffering) {
  LineFramer framer(8);
  std::vector<Frame> frames;
  for (int i = 0; i < 1000; ++i) {
    for (auto& f : framer.push(std::string(100, 'x'))) frames.push_back(std::move(f));
    ASSERT_EQ(framer.buffered(), 0u);
  }
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0], Frame(std::unexpected(FrameError::too_long)));
  // A close inside the dropped line is not a second report.
  EXPECT_FALSE(framer.close().has_value());
  EXPECT_EQ(framer.push("ok\n"), std::vector<Frame>{Frame("ok")});
}

TEST(LineFramer, ErrorsAreDescribedForReplies) {
  EXPECT_EQ(describe(FrameError::too_long, kMaxMessageBytes),
            "message too long (over 65536 bytes)");
  EXPECT_EQ(describe(FrameError::truncated, kMaxMessageBytes),
            "message truncated: the connection closed before its newline");
}

// A stream of valid and oversized lines, cut into random chunks: the framer yields exactly the
// valid lines, in order, one too_long per oversized line, and never holds more than the limit.
void check_random_stream(std::size_t limit, std::uint64_t seed, int rounds) {
  std::mt19937_64 rng(seed);
  const auto between = [&](std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
  };
  for (int round = 0; round < rounds; ++round) {
    std::string stream;
    std::vector<Frame> expected;
    for (auto n = between(1, 40); n > 0; --n) {
      const bool oversized = between(0, 3) == 0;
      const auto length = oversized ? between(limit + 1, 3 * limit) : between(1, limit);
      std::string line(length, static_cast<char>('a' + between(0, 25)));
      line[0] = static_cast<char>('A' + round % 26);  // lines differ, so order is checked
      stream += line + "\n";
      expected.push_back(oversized ? Frame(std::unexpected(FrameError::too_long)) : Frame(line));
    }
    LineFramer framer(limit);
    std::vector<Frame> got;
    std::size_t at = 0;
    while (at < stream.size()) {
      const auto size = std::min(between(1, limit / 2 + 3), stream.size() - at);
      for (auto& f : framer.push(std::string_view(stream).substr(at, size)))
        got.push_back(std::move(f));
      ASSERT_LE(framer.buffered(), limit);
      at += size;
    }
    ASSERT_EQ(got, expected) << "seed " << seed << " round " << round;
    EXPECT_FALSE(framer.close().has_value());
  }
}

TEST(LineFramer, RandomChunkingsOfValidAndOversizedLines) {
  check_random_stream(64, 1, 2000);
  check_random_stream(kMaxMessageBytes, 2, 20);
}

}  // namespace
}  // namespace jobcarbon::agent
