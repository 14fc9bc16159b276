// Resolving where the carbon intensity comes from (--country/--zone/--dataset/--intensity/
// --intensity-series, or the config file) and the PUE.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <jobcarbon/carbon/intensity_source.hpp>
#include <jobcarbon/cli/settings.hpp>

namespace jobcarbon::cli {

// PUE when none is configured: a workstation or a machine whose facility overhead is unknown is
// charged its IT energy only, and the report says how to set it.
inline constexpr double kDefaultPue = 1.0;

struct CarbonChoice {
  std::unique_ptr<carbon::IntensitySource> source;
  std::string zone_name;  // the zone's name for the report ("Germany"), when known
  double pue = kDefaultPue;
  std::vector<std::string> notes;  // defaults applied, with the flag to change them
};

// Return the intensity source and PUE chosen by the merged settings (flags already merged over
// the config files). Throws std::runtime_error naming the input for an unknown zone or dataset,
// conflicting options, or an unreadable series file.
CarbonChoice choose_carbon(const Settings& s);

}  // namespace jobcarbon::cli
