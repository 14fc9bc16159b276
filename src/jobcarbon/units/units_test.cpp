#include <jobcarbon/units/units.hpp>

#include <gtest/gtest.h>

namespace jobcarbon {
namespace {

using namespace std::chrono_literals;

TEST(Units, EnergyOfPowerOverTime) {
  EXPECT_EQ(energy_of(Microwatts(250'000'000), 2s), Microjoules(500'000'000));  // 250 W × 2 s
  EXPECT_EQ(energy_of(Microwatts(1), 1ms), Microjoules(0));                     // rounds to nearest
  EXPECT_EQ(energy_of(Microwatts(1'000'000), 1500us), Microjoules(1500));
  // A week at 10 kW does not overflow.
  EXPECT_EQ(energy_of(Microwatts(10'000'000'000), std::chrono::hours(24 * 7)),
            Microjoules(6'048'000'000'000'000));
}

TEST(Units, PowerOfEnergyOverTime) {
  EXPECT_EQ(power_of(Microjoules(3'000'000), 2s), Microwatts(1'500'000));
  EXPECT_EQ(power_of(Microjoules(3'000'000), 0s), Microwatts(0));
}

TEST(Units, Conversions) {
  EXPECT_DOUBLE_EQ(to_kwh(Microjoules(3'600'000'000'000)), 1.0);
  EXPECT_DOUBLE_EQ(to_joules(Microjoules(1'500'000)), 1.5);
  EXPECT_DOUBLE_EQ(to_seconds(std::chrono::milliseconds(250)), 0.25);
}

TEST(Units, Arithmetic) {
  Microjoules a(5);
  a += Microjoules(7);
  EXPECT_EQ(a, Microjoules(12));
  EXPECT_LT(Microjoules(1), Microjoules(2));
  EXPECT_EQ(a - Microjoules(2), Microjoules(10));
}

}  // namespace
}  // namespace jobcarbon
