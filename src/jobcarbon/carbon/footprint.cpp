#include <jobcarbon/carbon/footprint.hpp>

#include <charconv>
#include <cmath>
#include <vector>

#include <fmt/core.h>

#include <jobcarbon/carbon/text_match.hpp>

namespace jobcarbon::carbon {
namespace {

constexpr double kMaxPue = 3.0;  // the same bound as the config file (docs/configuration.md)

// The energy of [start, start + part) out of TOTAL spread evenly over LENGTH, rounded; computed
// from the cumulative share so consecutive parts add up exactly.
std::int64_t share(Microjoules total, WallTime::duration part, WallTime::duration length) {
  const Int128 num = static_cast<Int128>(total.value) * part.count();
  const Int128 den = length.count();
  const Int128 half = den / 2;
  return static_cast<std::int64_t>((num >= 0 ? num + half : num - half) / den);
}

}  // namespace

std::expected<void, std::string> check_pue(double pue) {
  if (!std::isfinite(pue) || pue < 1.0) {
    return std::unexpected(
        fmt::format("PUE {} is below 1; PUE is facility energy over IT energy, at least 1.0", pue));
  }
  if (pue > kMaxPue) {
    return std::unexpected(fmt::format("PUE {} is implausible (typical values are 1.1 to 2)", pue));
  }
  return {};
}

std::expected<double, std::string> parse_pue(std::string_view text) {
  const std::string_view s = trim(text);
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return std::unexpected(fmt::format("PUE '{}' is not a number", text));
  }
  if (auto ok = check_pue(v); !ok) return std::unexpected(ok.error());
  return v;
}

Microjoules facility_energy(Microjoules it_energy, double pue) {
  return Microjoules(std::llround(static_cast<double>(it_energy.value) * pue));
}

KgCo2 co2_of(Microjoules facility, double kg_per_kwh) {
  return KgCo2{to_kwh(facility) * kg_per_kwh};
}

KgCo2 footprint_of(Microjoules it_energy, double pue, double kg_per_kwh) {
  // Unrounded facility energy: the rounding of facility_energy() is for display and storage.
  return KgCo2{to_kwh(it_energy) * pue * kg_per_kwh};
}

FootprintAccumulator::FootprintAccumulator(const IntensitySource& source, double pue)
    : source_(source), pue_(pue) {}

std::expected<void, std::string> FootprintAccumulator::add(const EnergyInterval& interval) {
  if (interval.end < interval.start) {
    return std::unexpected("energy interval ends before it starts");
  }
  struct Piece {
    Intensity intensity;
    std::int64_t energy;
  };
  std::vector<Piece> pieces;
  const auto length = interval.end - interval.start;
  if (length.count() == 0) {
    auto i = source_.at(interval.start);
    if (!i) return std::unexpected(i.error());
    pieces.push_back({std::move(*i), interval.energy.value});
  } else {
    WallTime t = interval.start;
    std::int64_t charged = 0;  // energy of the pieces so far, from the cumulative share
    while (t < interval.end) {
      auto i = source_.at(t);
      if (!i) return std::unexpected(i.error());
      const auto change = source_.next_change_after(t);
      const WallTime piece_end = change && *change < interval.end ? *change : interval.end;
      const std::int64_t upto = share(interval.energy, piece_end - interval.start, length);
      pieces.push_back({std::move(*i), upto - charged});
      charged = upto;
      t = piece_end;
    }
  }
  for (auto& p : pieces) {
    const double kwh = to_kwh(Microjoules(p.energy)) * pue_;
    co2_.value += kwh * p.intensity.kg_per_kwh;
    facility_kwh_ += kwh;
    if (!first_) first_ = std::move(p.intensity);
  }
  it_energy_ += interval.energy;
  return {};
}

std::optional<double> FootprintAccumulator::mean_kg_per_kwh() const {
  if (facility_kwh_ > 0) return co2_.value / facility_kwh_;
  if (first_) return first_->kg_per_kwh;
  return std::nullopt;
}

}  // namespace jobcarbon::carbon
