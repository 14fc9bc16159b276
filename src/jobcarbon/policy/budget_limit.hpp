// A budget's limit as a person writes it on the command line: a mass of CO2 (`1200kg`, `1.2 t`,
// `500 g CO2`), an energy (`--limit-kwh 35000`, `2.5 MWh`), and the share of the limit at which
// a submission starts to warn (`80%`, `0.8`). The accepted forms are listed in docs/budgets.md.
// Numbers are read as exact decimals, so `1.2t` is the same limit as `1200kg`, and formatting a
// parsed limit gives text that parses back to the same value.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::policy {

// Return the CO2 mass written in TEXT: a decimal number (`1200`, `1.5`, `.5`, `1.2e3`), optional
// spaces, a unit (g, gram(s), kg, kilogram(s), t, tonne(s); any case), optionally followed by
// `CO2` or `CO2e`. Zero is accepted: a limit of nothing (every job with a non-zero estimate is
// over it). Errors name TEXT and say what is wrong: empty, not a number, negative, not finite,
// out of range, no unit, unknown or ambiguous unit (`ton`: short or metric?).
std::expected<KgCo2, std::string> parse_co2_limit(std::string_view text);

// Return text that parse_co2_limit reads back as exactly LIMIT: in kg, the shortest decimal that
// round-trips (`1200 kg`, `0.5 kg`).
std::string format_co2_limit(KgCo2 limit);

// Return the energy written in TEXT: a decimal number, optional spaces and a unit (Wh, kWh, MWh;
// any case, so `mwh` is megawatt-hours), rounded to the nearest microjoule. A bare number is
// kWh, since this is what `--limit-kwh` takes. Errors as parse_co2_limit, plus a value beyond
// the range of Microjoules (about 2562 MWh) or a non-zero value below one microjoule.
std::expected<Microjoules, std::string> parse_energy_limit(std::string_view text);

// Return text that parse_energy_limit reads back as exactly LIMIT, in kWh (`1.5 kWh`).
std::string format_energy_limit(Microjoules limit);

// The share of a limit above which a submission warns. Held in basis points (1/100 of a percent)
// so that `threshold × limit` is computed exactly for whole limits.
struct WarnThreshold {
  std::int32_t basis_points = 8000;  // 80 %, the default of `budget set`
  constexpr auto operator<=>(const WarnThreshold&) const = default;
};

// Return the threshold written in TEXT: a percentage (`80%`, `82.5 %`) or a fraction (`0.8`),
// between 0 and 100 % inclusive, with at most 0.01 % resolution. A bare number above 1 is an
// error that suggests the percent sign (`80` is not 8000 %).
std::expected<WarnThreshold, std::string> parse_warn_threshold(std::string_view text);

// Return THRESHOLD as a percentage that parse_warn_threshold reads back (`80%`, `82.5%`).
std::string format_warn_threshold(WarnThreshold threshold);

// Return a short reading of MASS for sentences shown to people, always in kg so that numbers in
// one sentence compare at a glance (`1200 kg`, `812.4 kg`, `0.35 kg`), grams below 0.1 kg
// (`12 g`), milligrams below 0.1 g (`1.6 mg`); rounded, so not for round trips (use
// format_co2_limit).
std::string display_kg(KgCo2 mass);

}  // namespace jobcarbon::policy
