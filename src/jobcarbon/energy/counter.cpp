#include <jobcarbon/energy/counter.hpp>

namespace jobcarbon::energy {

CounterDelta counter_delta(Microjoules prev, Microjoules cur,
                           std::optional<Microjoules> wrap_range) {
  if (cur >= prev) return {cur - prev, CounterStep::kNormal};
  if (wrap_range && *wrap_range >= prev) {
    return {(*wrap_range - prev) + cur, CounterStep::kWrapped};
  }
  return {cur, CounterStep::kReset};
}

}  // namespace jobcarbon::energy
