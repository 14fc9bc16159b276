// The footprint: kg CO2 from the IT energy a job used, the data centre's PUE and the grid's carbon
// intensity. Facility energy = IT energy × PUE; kg CO2 = facility kWh × kg CO2 per kWh. With an
// intensity that varies in time, each energy interval is charged at the intensity in force while
// it ran, split where the intensity changes.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include <jobcarbon/carbon/intensity_source.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::carbon {

// Return the PUE given as TEXT, or an error: not a number, below 1 (a facility cannot use less
// than its IT load) or above 3 (a typo; the worst surveyed data centres are near 2.5).
std::expected<double, std::string> parse_pue(std::string_view text);
// Return an error when PUE is not a plausible power usage effectiveness (see parse_pue).
std::expected<void, std::string> check_pue(double pue);

// Return the facility energy of IT_ENERGY at PUE, rounded to the nearest microjoule.
Microjoules facility_energy(Microjoules it_energy, double pue);
// Return the CO2 of FACILITY_ENERGY at KG_PER_KWH.
KgCo2 co2_of(Microjoules facility_energy, double kg_per_kwh);
// Return the CO2 of IT_ENERGY at PUE and KG_PER_KWH (a constant intensity).
KgCo2 footprint_of(Microjoules it_energy, double pue, double kg_per_kwh);

// The energy measured between two wall times (what the meter hands on, per interval).
struct EnergyInterval {
  WallTime start;
  WallTime end;
  Microjoules energy;  // IT energy
};

// Sums the footprint of energy intervals, interval by interval, at the intensity in force during
// each: an interval that crosses a change of intensity (an hour boundary of a series) is split
// there, its energy shared in proportion to time; the shares add up to the interval's energy
// exactly.
class FootprintAccumulator {
 public:
  // SOURCE must outlive the accumulator; PUE must pass check_pue.
  FootprintAccumulator(const IntensitySource& source, double pue);

  // Charge INTERVAL. On error (END before START, or an intensity the source cannot give for part
  // of the interval) nothing of the interval is counted and the totals are unchanged.
  std::expected<void, std::string> add(const EnergyInterval& interval);

  // Return the IT energy added so far.
  Microjoules it_energy() const { return it_energy_; }
  // Return the facility energy of it_energy() (× PUE, rounded to the microjoule).
  Microjoules facility_energy() const { return carbon::facility_energy(it_energy_, pue_); }
  // Return the CO2 so far.
  KgCo2 co2() const { return co2_; }
  double pue() const { return pue_; }
  // Return the energy-weighted mean intensity (kg CO2 per facility kWh); when the intervals held
  // no energy, the intensity of the first; std::nullopt before the first interval.
  std::optional<double> mean_kg_per_kwh() const;
  // Return the intensity of the first interval charged (zone, dataset, year, basis for a report),
  // or std::nullopt before the first.
  const std::optional<Intensity>& first_intensity() const { return first_; }

 private:
  const IntensitySource& source_;
  double pue_;
  Microjoules it_energy_;
  KgCo2 co2_;
  double facility_kwh_ = 0;  // unrounded, for the mean intensity
  std::optional<Intensity> first_;
};

}  // namespace jobcarbon::carbon
