// The estimator: where no sensor covers the CPU or memory, their energy is modelled — CPU time ×
// power per core (from the CPU model's TDP, or a documented default) and memory in use × W/GB
// (0.3725 W per GB, as Green Algorithms uses). Both are presented as energy counters that grow
// with the machine's busy CPU time and memory, so the meter needs no special case; every report
// labels them `estimated`.
#pragma once

#include <memory>
#include <string>

#include <jobcarbon/os/clock.hpp>
#include <jobcarbon/os/machine.hpp>
#include <jobcarbon/sensors/sensor.hpp>

namespace jobcarbon::sensors {

// Green Algorithms' memory power model (Lannelongue et al. 2021): 0.3725 W per GB.
inline constexpr double kMemoryWattsPerGb = 0.3725;

struct EstimatorOptions {
  bool cpu = true;               // model CPU energy (no RAPL package or node meter)
  bool memory = true;            // model memory energy (no RAPL DRAM or node meter)
  double watts_per_core = 0;     // CPU power per busy core
  std::string cpu_power_source;  // where watts_per_core comes from, for the report
};

// Return the estimator for the machine seen through `machine`, or an unavailable probe when it
// cannot read the machine's CPU time (e.g. no /proc). The clock must outlive the sensor.
Probe probe_estimator(os::Machine machine, const EstimatorOptions& options, const os::Clock& clock);

}  // namespace jobcarbon::sensors
