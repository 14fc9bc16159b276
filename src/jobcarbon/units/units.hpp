// Units are types: energy in integer microjoules, power in integer microwatts, mass of CO2 in
// kilograms (double, since it is only ever derived), durations as std::chrono.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>

namespace jobcarbon {

// A strongly typed integer quantity. Tag makes Microjoules and Microwatts distinct types.
template <typename Tag>
struct Quantity {
  std::int64_t value = 0;

  constexpr Quantity() = default;
  constexpr explicit Quantity(std::int64_t v) : value(v) {}

  constexpr auto operator<=>(const Quantity&) const = default;
  constexpr Quantity& operator+=(Quantity o) {
    value += o.value;
    return *this;
  }
  constexpr Quantity& operator-=(Quantity o) {
    value -= o.value;
    return *this;
  }
  friend constexpr Quantity operator+(Quantity a, Quantity b) {
    return Quantity(a.value + b.value);
  }
  friend constexpr Quantity operator-(Quantity a, Quantity b) {
    return Quantity(a.value - b.value);
  }
};

struct MicrojouleTag {};
struct MicrowattTag {};
using Microjoules = Quantity<MicrojouleTag>;
using Microwatts = Quantity<MicrowattTag>;

using Duration = std::chrono::nanoseconds;

inline constexpr double kJoulesPerKwh = 3.6e6;

__extension__ typedef __int128 Int128;  // exact products of µW and ns

// Return the energy in joules (for display and for derived quantities only).
constexpr double to_joules(Microjoules e) {
  return static_cast<double>(e.value) / 1e6;
}
// Return the energy in kilowatt-hours.
constexpr double to_kwh(Microjoules e) {
  return to_joules(e) / kJoulesPerKwh;
}
// Return the power in watts.
constexpr double to_watts(Microwatts p) {
  return static_cast<double>(p.value) / 1e6;
}
// Return the duration in seconds.
constexpr double to_seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

// Return the energy of a constant power held for a duration, rounded to the nearest microjoule.
constexpr Microjoules energy_of(Microwatts p, Duration d) {
  // µW × ns = 1e-15 J; split to avoid overflow for long intervals.
  const auto ns = d.count();
  const Int128 prod = static_cast<Int128>(p.value) * ns;  // µW·ns
  return Microjoules(
      static_cast<std::int64_t>((prod + (prod >= 0 ? 500'000'000 : -500'000'000)) / 1'000'000'000));
}

// Return the mean power of an energy spent over a duration (0 for an empty duration).
constexpr Microwatts power_of(Microjoules e, Duration d) {
  if (d.count() <= 0) return Microwatts(0);
  const Int128 prod = static_cast<Int128>(e.value) * 1'000'000'000;
  return Microwatts(static_cast<std::int64_t>(prod / d.count()));
}

// Mass of CO2 in kilograms. Derived from energy and intensity, never summed across records
// (records sum energy and recompute), so a double is enough.
struct KgCo2 {
  double value = 0;
  constexpr auto operator<=>(const KgCo2&) const = default;
};

}  // namespace jobcarbon
