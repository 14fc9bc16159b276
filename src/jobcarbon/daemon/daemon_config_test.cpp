#include <jobcarbon/daemon/daemon_config.hpp>

#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jobcarbon::daemon {
namespace {

TEST(ListenAddress, AcceptsTheDocumentedForms) {
  EXPECT_EQ(parse_listen_address("0.0.0.0:9877").value(), (ListenAddress{"0.0.0.0", 9877}));
  EXPECT_EQ(parse_listen_address("127.0.0.1:1").value(), (ListenAddress{"127.0.0.1", 1}));
  EXPECT_EQ(parse_listen_address("[::1]:65535").value(), (ListenAddress{"::1", 65535}));
  EXPECT_EQ(parse_listen_address(":9877").value(), (ListenAddress{"0.0.0.0", 9877}));
  EXPECT_EQ(parse_listen_address("node7.example:9100").value(),
            (ListenAddress{"node7.example", 9100}));
  EXPECT_FALSE(parse_listen_address("none").value().has_value());
}

TEST(ListenAddress, RefusesWithTheReason) {
  EXPECT_THAT(parse_listen_address("9877").error(), ::testing::HasSubstr("expected HOST:PORT"));
  EXPECT_THAT(parse_listen_address("h:0").error(), ::testing::HasSubstr("1 to 65535"));
  EXPECT_THAT(parse_listen_address("h:65536").error(), ::testing::HasSubstr("1 to 65535"));
  EXPECT_THAT(parse_listen_address("h:12x").error(), ::testing::HasSubstr("1 to 65535"));
  EXPECT_THAT(parse_listen_address("::1:9877").error(), ::testing::HasSubstr("brackets"));
  EXPECT_THAT(parse_listen_address("[::1:9877").error(), ::testing::HasSubstr("brackets"));
}

// Any text either parses to a port in range or is refused with a message naming it.
TEST(ListenAddress, RandomTextNeverCrashes) {
  std::mt19937 rng(11);
  const std::string alphabet = "0123456789:[]. abz/\x01";
  for (int i = 0; i < 20000; ++i) {
    std::string t(rng() % 24, ' ');
    for (auto& c : t) c = alphabet[rng() % alphabet.size()];
    const auto r = parse_listen_address(t);
    if (r && *r) {
      EXPECT_GE((*r)->port, 1);
      EXPECT_LE((*r)->port, 65535);
    } else if (!r) {
      EXPECT_THAT(r.error(), ::testing::HasSubstr("'" + t + "'"));
    }
  }
}

}  // namespace
}  // namespace jobcarbon::daemon
