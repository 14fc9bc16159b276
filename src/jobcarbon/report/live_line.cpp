#include <jobcarbon/report/live_line.hpp>

#include <fmt/format.h>

namespace jobcarbon::report {

std::string live_line(const LiveStatus& s) {
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(s.elapsed).count();
  std::string out =
      fmt::format("jobcarbon {}:{:02}:{:02} ", secs / 3600, (secs / 60) % 60, secs % 60);
  bool any = false;
  for (std::size_t d = 0; d < s.last_interval.by_domain.size(); ++d) {
    const auto e = s.last_interval.by_domain[d];
    if (e.value <= 0) continue;
    const auto name = sensors::domain_name(static_cast<sensors::Domain>(d));
    out += fmt::format(" {} {:.1f} W", name, to_watts(power_of(e, s.last_interval_length)));
    any = true;
  }
  if (!any) out += " — W";
  const double j = to_joules(s.energy_so_far);
  out += j >= 1e6
             ? fmt::format(" | {:.3f} kWh", j / kJoulesPerKwh)
             : (j >= 1e3 ? fmt::format(" | {:.2f} kJ", j / 1e3) : fmt::format(" | {:.1f} J", j));
  out += fmt::format(" | {:.2f} g CO2", s.co2_kg_so_far * 1000);
  return out;
}

}  // namespace jobcarbon::report
