// The one-line status shown on a terminal while a command runs, refreshed about once a second.
#pragma once

#include <string>

#include <jobcarbon/attribution/attributor.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::report {

struct LiveStatus {
  Duration elapsed{0};
  attribution::DomainEnergy last_interval;  // energy charged in the latest interval
  Duration last_interval_length{0};
  Microjoules energy_so_far;
  double co2_kg_so_far = 0;
};

// Return the status line (no newline, no terminal control codes): elapsed time, the current
// watts of each domain that has energy, the energy so far and grams of CO2 so far.
std::string live_line(const LiveStatus& s);

}  // namespace jobcarbon::report
