#include <jobcarbon/data/embedded.hpp>

#include <gtest/gtest.h>

namespace jobcarbon::data {
namespace {

TEST(EmbeddedData, HoldsTheDataFilesByteForByte) {
  const auto f = embedded_file("_selftest.csv");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(*f, "key,value\nhello,1\n");
  EXPECT_FALSE(embedded_file("nope.csv").has_value());
}

}  // namespace
}  // namespace jobcarbon::data
