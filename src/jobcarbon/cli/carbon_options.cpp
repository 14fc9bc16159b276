#include <jobcarbon/cli/carbon_options.hpp>

#include <stdexcept>

#include <fmt/format.h>

#include <jobcarbon/carbon/footprint.hpp>
#include <jobcarbon/carbon/intensity_table.hpp>

namespace jobcarbon::cli {

namespace {

// Where a setting came from, for error messages: "--country" or "config.toml:3".
std::string origin_of(const Settings& s, const std::string& key) {
  const auto it = s.origin.find(key);
  return it != s.origin.end() ? it->second : "--" + key;
}

}  // namespace

CarbonChoice choose_carbon(const Settings& s) {
  CarbonChoice c;
  const int given = (s.intensity_kg_per_kwh ? 1 : 0) + (s.intensity_series ? 1 : 0) +
                    ((s.country || s.zone) ? 1 : 0);
  if (given > 1) {
    throw std::runtime_error(
        "choose one source of carbon intensity: --intensity, --intensity-series, or "
        "--country/--zone");
  }
  if (s.country && s.zone) {
    throw std::runtime_error(
        fmt::format("--country ({}) and --zone ({}) both given: choose one", *s.country, *s.zone));
  }
  if (s.pue) {
    if (auto ok = carbon::check_pue(*s.pue); !ok) {
      throw std::runtime_error(
          fmt::format("{}: pue {}: {}", origin_of(s, "pue"), *s.pue, ok.error()));
    }
    c.pue = *s.pue;
  } else {
    c.notes.push_back(fmt::format(
        "PUE {:.1f} assumed (IT energy only); set the data centre's with --pue X", kDefaultPue));
  }

  if (s.intensity_kg_per_kwh) {
    const double v = *s.intensity_kg_per_kwh;
    if (!(v >= 0 && v <= 3)) {
      throw std::runtime_error(fmt::format("{}: intensity {}: must be between 0 and 3 kg CO2/kWh",
                                           origin_of(s, "intensity"), v));
    }
    c.source = std::make_unique<carbon::FixedIntensity>(v, origin_of(s, "intensity"));
    return c;
  }
  if (s.intensity_series) {
    auto series = carbon::HourlySeries::load_file(*s.intensity_series);
    if (!series) throw std::runtime_error(series.error());
    c.source = std::make_unique<carbon::HourlySeries>(std::move(*series));
    return c;
  }
  auto table = carbon::IntensityTable::load_embedded_for(s.country ? *s.country
                                                         : s.zone  ? *s.zone
                                                                   : std::string());
  if (!table) throw std::runtime_error("embedded intensity table: " + table.error());
  const std::string dataset = s.dataset.value_or("");
  if (s.country || s.zone) {
    const std::string& code = s.country ? *s.country : *s.zone;
    auto row = table->lookup(code, dataset);
    if (!row) {
      // The error must list the whole table's datasets and zones, not the subset's.
      table = carbon::IntensityTable::load_embedded();
      if (!table) throw std::runtime_error("embedded intensity table: " + table.error());
      row = table->lookup(code, dataset);
    }
    if (!row) {
      throw std::runtime_error(
          fmt::format("{}: {}", origin_of(s, s.country ? "country" : "zone"), row.error()));
    }
    c.zone_name = row->name;
    c.source = std::make_unique<carbon::TableIntensity>(*row);
    return c;
  }
  auto world = table->world(dataset);
  if (!world)
    throw std::runtime_error(fmt::format("{}: {}", origin_of(s, "dataset"), world.error()));
  c.zone_name = world->name;
  c.source = std::make_unique<carbon::TableIntensity>(*world, /*is_default_world=*/true);
  c.notes.push_back(
      "no zone configured: the world average intensity was used; set yours with --country CODE "
      "or --zone ID (see `jobcarbon intensity`)");
  return c;
}

}  // namespace jobcarbon::cli
