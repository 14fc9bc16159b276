#include <jobcarbon/policy/budget_limit.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include <fmt/format.h>

namespace jobcarbon::policy {
namespace {

// A decimal number read exactly: DIGITS × 10^EXPONENT, DIGITS without leading zeros (empty for
// zero). Kept as text so that scaling by a unit is a shift of the exponent, not a rounding.
struct Decimal {
  std::string digits;
  std::int64_t exponent = 0;
};

// Beyond this the value is out of every range here; saturating keeps the arithmetic defined.
constexpr std::int64_t kExponentCap = 1'000'000;
// Enough for any int64 of microjoules or basis points, and products of them fit an Int128.
constexpr std::size_t kMaxSignificantDigits = 30;

bool is_space(char c) {
  return c == ' ' || c == '\t';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

bool starts_with_word(std::string_view s, std::string_view word) {
  return lower(s.substr(0, word.size())) == word;
}

// Read a decimal from the front of S (`12`, `1.5`, `.5`, `1.2e3`, `5E-2`); consume it from S.
// Return std::nullopt when S does not start with a digit or `.digit`.
std::optional<Decimal> read_decimal(std::string_view& s) {
  std::size_t i = 0;
  std::string mantissa;
  std::int64_t fraction_digits = 0;
  while (i < s.size() && is_digit(s[i])) mantissa += s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) {
      mantissa += s[i++];
      ++fraction_digits;
    }
  }
  if (mantissa.empty()) return std::nullopt;
  std::int64_t exponent = 0;
  // An exponent only when digits follow, so `5e` is 5 with the unit `e` (unknown, reported).
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    std::size_t j = i + 1;
    bool negative = false;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) negative = s[j++] == '-';
    if (j < s.size() && is_digit(s[j])) {
      while (j < s.size() && is_digit(s[j])) {
        exponent = std::min(exponent * 10 + (s[j++] - '0'), kExponentCap);
      }
      if (negative) exponent = -exponent;
      i = j;
    }
  }
  s.remove_prefix(i);
  Decimal d;
  const auto first = mantissa.find_first_not_of('0');
  if (first != std::string::npos) d.digits = mantissa.substr(first);
  d.exponent = exponent - fraction_digits;
  return d;
}

// The number at the front of a limit, the unit text after it, or the error for TEXT. WHAT names
// the quantity in messages ("CO2 limit"), EXAMPLE is a valid input to suggest.
struct NumberAndUnit {
  Decimal number;
  std::string unit;  // lower case, spaces trimmed
};
std::expected<NumberAndUnit, std::string> split_number(std::string_view text, std::string_view what,
                                                       std::string_view example) {
  std::string_view s = trim(text);
  if (s.empty()) return std::unexpected(fmt::format("empty {}; write e.g. {}", what, example));
  if (s.front() == '-') {
    return std::unexpected(fmt::format("{} '{}' is negative; it must be 0 or more", what, text));
  }
  if (s.front() == '+') s.remove_prefix(1);
  if (starts_with_word(s, "inf") || starts_with_word(s, "nan")) {
    return std::unexpected(fmt::format("{} '{}' is not a finite number", what, text));
  }
  auto number = read_decimal(s);
  if (!number) {
    return std::unexpected(
        fmt::format("{} '{}' is not a number; write e.g. {}", what, text, example));
  }
  return NumberAndUnit{std::move(*number), lower(trim(s))};
}

// Return VALUE = DIGITS × 10^EXPONENT as an integer rounded half up, or std::nullopt when it
// exceeds MAX. DIGITS must be at most kMaxSignificantDigits long.
std::optional<Int128> to_integer(const Decimal& d, Int128 multiplier, std::int64_t exponent,
                                 Int128 max, bool* inexact = nullptr) {
  Int128 m = 0;
  for (char c : d.digits) m = m * 10 + (c - '0');
  m *= multiplier;
  if (inexact) *inexact = false;
  if (m == 0) return Int128(0);
  if (exponent >= 0) {
    for (std::int64_t k = 0; k < exponent; ++k) {
      if (m > max / 10) return std::nullopt;
      m *= 10;
    }
    return m > max ? std::nullopt : std::optional<Int128>(m);
  }
  // m < 10^32 × 36 < 10^34: a divisor of 10^35 or more leaves less than a half.
  if (-exponent >= 35) {
    if (inexact) *inexact = true;
    return Int128(0);
  }
  Int128 den = 1;
  for (std::int64_t k = 0; k < -exponent; ++k) den *= 10;
  if (inexact) *inexact = m % den != 0;
  const Int128 q = (m + den / 2) / den;
  return q > max ? std::nullopt : std::optional<Int128>(q);
}

// Move trailing zeros of the digits into the exponent, so `1200000` counts 2 significant digits.
Decimal normalised(Decimal d) {
  while (!d.digits.empty() && d.digits.back() == '0') {
    d.digits.pop_back();
    ++d.exponent;
  }
  return d;
}

// Strip a trailing `co2` / `co2e` from UNIT (`kg co2`, `kgco2e`).
std::string without_co2(std::string unit) {
  for (std::string_view suffix : {"co2e", "co2"}) {
    if (unit.size() >= suffix.size() && unit.ends_with(suffix)) {
      unit.resize(unit.size() - suffix.size());
      return std::string(trim(unit));
    }
  }
  return unit;
}

std::string trimmed_fixed(double v, int decimals) {
  std::string s = fmt::format("{:.{}f}", v, decimals);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

}  // namespace

std::expected<KgCo2, std::string> parse_co2_limit(std::string_view text) {
  constexpr std::string_view kWhat = "CO2 limit";
  constexpr std::string_view kUnits = "g, kg or t (tonnes), optionally followed by CO2";
  auto parsed = split_number(text, kWhat, "1200kg");
  if (!parsed) return std::unexpected(parsed.error());
  const std::string unit = without_co2(parsed->unit);
  if (unit.empty()) {
    return std::unexpected(
        fmt::format("{} '{}' has no unit; write e.g. 1200kg, 1.2t or 500g", kWhat, text));
  }
  // Power of ten from the unit to kg.
  static constexpr std::array<std::pair<std::string_view, int>, 9> kShift{{
      {"g", -3},
      {"gram", -3},
      {"grams", -3},
      {"kg", 0},
      {"kilogram", 0},
      {"kilograms", 0},
      {"t", 3},
      {"tonne", 3},
      {"tonnes", 3},
  }};
  const auto it = std::find_if(kShift.begin(), kShift.end(),
                               [&](const auto& entry) { return entry.first == unit; });
  if (it == kShift.end()) {
    if (unit == "ton" || unit == "tons") {
      return std::unexpected(
          fmt::format("{} '{}': '{}' is ambiguous (short ton or metric tonne?); write t or tonnes",
                      kWhat, text, unit));
    }
    return std::unexpected(
        fmt::format("{} '{}' has an unknown unit '{}'; use {}", kWhat, text, unit, kUnits));
  }
  const Decimal& d = parsed->number;
  if (d.digits.empty()) return KgCo2{0.0};
  // The exact decimal rescaled to kg, then rounded once to the nearest double.
  const std::int64_t exponent = d.exponent + it->second;
  const std::string canonical = fmt::format("{}e{}", d.digits, exponent);
  double kg = 0;
  const auto [ptr, ec] = std::from_chars(canonical.data(), canonical.data() + canonical.size(), kg);
  const auto magnitude = exponent + static_cast<std::int64_t>(d.digits.size());
  if (ec == std::errc::result_out_of_range || !std::isfinite(kg) || (kg == 0.0)) {
    return std::unexpected(fmt::format("{} '{}' is out of range (too {})", kWhat, text,
                                       magnitude > 0 ? "large" : "small"));
  }
  if (ec != std::errc() || ptr != canonical.data() + canonical.size()) {
    return std::unexpected(fmt::format("{} '{}' is not a number", kWhat, text));
  }
  return KgCo2{kg};
}

std::string format_co2_limit(KgCo2 limit) {
  return fmt::format("{} kg", limit.value);
}

std::expected<Microjoules, std::string> parse_energy_limit(std::string_view text) {
  constexpr std::string_view kWhat = "energy limit";
  auto parsed = split_number(text, kWhat, "35000kWh");
  if (!parsed) return std::unexpected(parsed.error());
  // 1 Wh = 3.6e9 µJ = 36 × 10^8 µJ; each step up is 10^3.
  int shift = 0;
  if (parsed->unit == "wh") {
    shift = 8;
  } else if (parsed->unit == "kwh" || parsed->unit.empty()) {
    shift = 11;
  } else if (parsed->unit == "mwh") {
    shift = 14;
  } else {
    return std::unexpected(fmt::format("{} '{}' has an unknown unit '{}'; use Wh, kWh or MWh",
                                       kWhat, text, parsed->unit));
  }
  const Decimal d = normalised(parsed->number);
  if (d.digits.size() > kMaxSignificantDigits) {
    return std::unexpected(fmt::format("{} '{}' has more than {} significant digits", kWhat, text,
                                       kMaxSignificantDigits));
  }
  const auto uj = to_integer(d, 36, d.exponent + shift, std::numeric_limits<std::int64_t>::max());
  if (!uj) {
    return std::unexpected(
        fmt::format("{} '{}' is out of range (too large; at most 2562 MWh)", kWhat, text));
  }
  if (*uj == 0 && !d.digits.empty()) {
    return std::unexpected(
        fmt::format("{} '{}' is out of range (too small; below one microjoule)", kWhat, text));
  }
  return Microjoules(static_cast<std::int64_t>(*uj));
}

std::string format_energy_limit(Microjoules limit) {
  // In units of 1e-13 kWh (= 0.36 µJ, finer than half a microjoule, so parsing rounds back to
  // LIMIT exactly): µJ × 1e13 / 3.6e12 = µJ × 25 / 9, rounded half away from zero.
  const Int128 scaled = static_cast<Int128>(limit.value) * 25;
  const Int128 q = (scaled >= 0 ? scaled + 4 : scaled - 4) / 9;
  const bool negative = q < 0;
  const Int128 a = negative ? -q : q;
  constexpr std::int64_t kScale = 10'000'000'000'000;
  const auto whole = static_cast<std::int64_t>(a / kScale);
  std::string frac = fmt::format("{:013d}", static_cast<std::int64_t>(a % kScale));
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return fmt::format("{}{}{}{} kWh", negative ? "-" : "", whole, frac.empty() ? "" : ".", frac);
}

std::expected<WarnThreshold, std::string> parse_warn_threshold(std::string_view text) {
  constexpr std::string_view kWhat = "warn threshold";
  auto parsed = split_number(text, kWhat, "80%");
  if (!parsed) return std::unexpected(parsed.error());
  const bool percent = parsed->unit == "%";
  if (!percent && !parsed->unit.empty()) {
    return std::unexpected(
        fmt::format("{} '{}' must be a percentage (80%) or a fraction (0.8), not '{}'", kWhat, text,
                    parsed->unit));
  }
  const Decimal d = normalised(parsed->number);
  if (d.digits.size() > kMaxSignificantDigits) {
    return std::unexpected(fmt::format("{} '{}' has too many digits", kWhat, text));
  }
  bool inexact = false;
  const auto bp = to_integer(d, 1, d.exponent + (percent ? 2 : 4), 1'000'000'000, &inexact);
  if (!bp || *bp > 10'000) {
    if (percent) return std::unexpected(fmt::format("{} '{}' is above 100%", kWhat, text));
    // A bare whole number up to 100 is most likely a percentage without its sign.
    const bool looks_like_percent = d.exponent >= 0 &&
                                    static_cast<std::int64_t>(d.digits.size()) + d.exponent <= 3 &&
                                    bp && *bp <= 1'000'000;
    return std::unexpected(fmt::format(
        "{} '{}' is a fraction above 1 (0.8 means 80%){}", kWhat, text,
        looks_like_percent ? fmt::format("; did you mean {}%?", trim(text)) : std::string()));
  }
  if (inexact) {
    return std::unexpected(
        fmt::format("{} '{}' is finer than 0.01%, the threshold's resolution", kWhat, text));
  }
  return WarnThreshold{static_cast<std::int32_t>(*bp)};
}

std::string format_warn_threshold(WarnThreshold threshold) {
  const auto bp = threshold.basis_points;
  if (bp % 100 == 0) return fmt::format("{}%", bp / 100);
  std::string frac = fmt::format("{:02d}", bp % 100);
  if (frac.back() == '0') frac.pop_back();
  return fmt::format("{}.{}%", bp / 100, frac);
}

std::string display_kg(KgCo2 mass) {
  const double v = mass.value;
  const double a = std::fabs(v);
  if (a == 0) return "0 kg";
  if (a >= 10) return trimmed_fixed(v, 1) + " kg";
  if (a >= 0.1) return trimmed_fixed(v, 2) + " kg";
  if (a >= 0.0001) return trimmed_fixed(v * 1000, 1) + " g";
  // A short workstation run: grams would round to 0 and read as "nothing used".
  return trimmed_fixed(v * 1e6, 1) + " mg";
}

}  // namespace jobcarbon::policy
