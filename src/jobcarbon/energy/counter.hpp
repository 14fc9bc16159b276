// Turning two reads of a cumulative energy counter into the energy spent between them.
#pragma once

#include <optional>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::energy {

enum class CounterStep {
  kNormal,   // the counter moved forward
  kWrapped,  // the counter passed its wrap range and restarted from 0
  kReset,    // the counter went back with no wrap range known: it restarted (driver reload)
};

struct CounterDelta {
  Microjoules energy;
  CounterStep step = CounterStep::kNormal;
};

// Return the energy between two reads prev and cur of a counter that restarts from 0 after
// wrap_range (RAPL's max_energy_range_uj): a counter below its previous value wrapped once, and
// the energy is (wrap_range - prev) + cur. Without a wrap range a backwards step is a reset and
// only cur (what accrued since the reset) is counted. A counter that wraps more than once between
// two reads cannot be told apart from one wrap: the sampling interval must be shorter than the
// time to wrap (about 60 s for a 4 kJ DRAM range at 1 kW; far longer for packages).
CounterDelta counter_delta(Microjoules prev, Microjoules cur,
                           std::optional<Microjoules> wrap_range);

}  // namespace jobcarbon::energy
