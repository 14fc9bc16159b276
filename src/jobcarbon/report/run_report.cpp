#include <jobcarbon/report/run_report.hpp>

#include <cmath>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace jobcarbon::report {

using sensors::Domain;

namespace {

constexpr std::array<Domain, 6> kReportedDomains{Domain::kGpu,          Domain::kCpuPackage,
                                                 Domain::kDram,         Domain::kNode,
                                                 Domain::kEstimatedCpu, Domain::kEstimatedMemory};

bool is_estimate(Domain d) {
  return d == Domain::kEstimatedCpu || d == Domain::kEstimatedMemory;
}

std::string iso_utc(os::WallTime t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string human_duration(Duration d) {
  const auto total = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  const auto h = total / 3600, m = (total % 3600) / 60, s = total % 60;
  if (h > 0) return fmt::format("{}h {:02}m {:02}s", h, m, s);
  if (m > 0) return fmt::format("{}m {:02}s", m, s);
  return fmt::format("{:.1f} s", to_seconds(d));
}

// Energy with a unit a person reads at a glance; the exact joules are always shown beside it.
std::string human_kwh(Microjoules e) {
  const double kwh = to_kwh(e);
  if (kwh >= 0.1) return fmt::format("{:.3f} kWh", kwh);
  return fmt::format("{:.3f} Wh", kwh * 1000);
}

std::string human_mass(double kg) {
  if (std::fabs(kg) >= 1) return fmt::format("{:.3f} kg", kg);
  if (std::fabs(kg) >= 0.001) return fmt::format("{:.2f} g", kg * 1000);
  return fmt::format("{:.3f} mg", kg * 1e6);
}

// Significant figures that stay readable for both tiny and large equivalents.
std::string human_number(double v) {
  if (v == 0) return "0";
  if (std::fabs(v) >= 100) return fmt::format("{:.0f}", v);
  if (std::fabs(v) >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3g}", v);
}

}  // namespace

std::string method_of(const attribution::DomainEnergy& charged) {
  bool measured = false, estimated = false;
  for (Domain d : kReportedDomains) {
    if (charged[d].value <= 0) continue;
    (is_estimate(d) ? estimated : measured) = true;
  }
  if (measured && estimated) return "mixed";
  if (estimated) return "estimated";
  return "measured";
}

Microwatts average_power(const RunReport& r) {
  return power_of(r.charged.total(), r.duration);
}

// The work the job stated, with throughput per kWh charged (null without energy); null when none.
nlohmann::json work_json(const RunReport& r) {
  if (!r.work) return nullptr;
  const double kwh = to_kwh(r.charged.total());
  return {{"count", r.work->count},
          {"unit", r.work->unit},
          {"per_kwh", kwh > 0 ? nlohmann::json(r.work->count / kwh) : nlohmann::json(nullptr)}};
}

nlohmann::json to_json(const RunReport& r) {
  using nlohmann::json;
  json domains = json::object(), domains_uj = json::object(), machine = json::object(),
       unallocated = json::object(), how = json::object();
  for (Domain d : kReportedDomains) {
    const std::string key(sensors::domain_name(d));
    domains[key] = to_joules(r.charged[d]);
    domains_uj[key] = r.charged[d].value;
    machine[key] = to_joules(r.machine[d]);
    unallocated[key] = to_joules(r.unallocated[d]);
    const auto& m = r.domain_method[static_cast<std::size_t>(d)];
    how[key] = m.empty() ? json(nullptr) : json(m);
  }
  json channels = json::array();
  for (const auto& c : r.channels) {
    channels.push_back({{"id", c.id},
                        {"label", c.label},
                        {"sensor", c.sensor},
                        {"domain", c.domain},
                        {"method", c.method},
                        {"additive", c.additive},
                        {"energy_j", to_joules(c.energy)},
                        {"energy_uj", c.energy.value},
                        {"average_power_w", to_watts(c.average_power)},
                        {"peak_power_w", to_watts(c.peak_power)},
                        {"coverage", c.coverage},
                        {"read_errors", c.errors},
                        {"wraps", c.wraps},
                        {"last_error", c.last_error.empty() ? json(nullptr) : json(c.last_error)}});
  }
  json equivalents = json::object();
  for (const auto& e : r.equivalents) {
    equivalents[e.key] = {
        {"name", e.name}, {"value", e.value}, {"factor", e.factor}, {"source", e.source}};
  }
  const auto& in = r.intensity;
  return json{
      {"schema_version", kSchemaVersion},
      {"job_id", r.job_id},
      {"host", r.host},
      {"account", r.account.empty() ? json(nullptr) : json(r.account)},
      {"command", r.command},
      {"exit_code", r.exit_code},
      {"start", iso_utc(r.start)},
      {"end", iso_utc(r.end)},
      {"duration_s", to_seconds(r.duration)},
      {"exclusive", r.exclusive},
      {"scope", r.scope},
      {"cpu_share", r.cpu_share},
      {"cpu_time_s", to_seconds(r.cpu_time)},
      {"gpus", r.gpus},
      {"energy_j", to_joules(r.charged.total())},
      {"energy_uj", r.charged.total().value},
      {"energy_kwh", to_kwh(r.charged.total())},
      {"domains", domains},
      {"domains_uj", domains_uj},
      {"domain_method", how},
      {"machine_energy_j", to_joules(r.machine.total())},
      {"machine_energy_uj", r.machine.total().value},
      {"machine_domains", machine},
      {"unallocated_energy_j", to_joules(r.unallocated.total())},
      {"unallocated_energy_uj", r.unallocated.total().value},
      {"unallocated_domains", unallocated},
      {"average_power_w", to_watts(average_power(r))},
      {"peak_power_w", to_watts(r.peak_power)},
      {"method", r.method},
      {"intensity_kg_per_kwh", in.kg_per_kwh},
      {"intensity",
       {{"kg_per_kwh", in.kg_per_kwh},
        {"zone", in.zone},
        {"name", in.name},
        {"dataset", in.dataset},
        {"year", in.year == 0 ? json(nullptr) : json(in.year)},
        {"basis", in.basis},
        {"source", in.source},
        {"world_default", in.world_default}}},
      {"pue", r.pue},
      {"facility_energy_kwh", r.facility_kwh},
      {"co2_kg", r.co2_kg},
      {"work", work_json(r)},
      {"equivalents", equivalents},
      {"channels", channels},
      {"notes", r.notes},
  };
}

std::string render_text(const RunReport& r) {
  std::string out;
  auto line = [&out](std::string_view s) {
    out += s;
    out += '\n';
  };
  std::string cmd;
  for (const auto& a : r.command) cmd += (cmd.empty() ? "" : " ") + a;
  line(fmt::format("jobcarbon report — {} (exit {})", cmd, r.exit_code));
  line(fmt::format("  duration      {}  ({} → {}, {})", human_duration(r.duration),
                   iso_utc(r.start), iso_utc(r.end), r.host));
  line(fmt::format("  scope         {}", r.scope));
  for (const auto& g : r.gpus) line(fmt::format("                GPU {}", g));
  line(fmt::format("  CPU time      {:.2f} s of the command and its descendants",
                   to_seconds(r.cpu_time)));
  line("");
  line("  energy charged to this job");
  for (Domain d : kReportedDomains) {
    const auto& m = r.domain_method[static_cast<std::size_t>(d)];
    if (m.empty() && r.charged[d].value == 0) continue;
    line(fmt::format("    {:<17}{:>14.1f} J  {:>12}   {}", sensors::domain_name(d),
                     to_joules(r.charged[d]), human_kwh(r.charged[d]), m));
  }
  line(fmt::format("    {:<17}{:>14.1f} J  {:>12}   {}", "total", to_joules(r.charged.total()),
                   human_kwh(r.charged.total()), r.method));
  line(
      fmt::format("  machine total {:>18.1f} J  {:>12}   of which unallocated {:.1f} J (other "
                  "processes, idle)",
                  to_joules(r.machine.total()), human_kwh(r.machine.total()),
                  to_joules(r.unallocated.total())));
  line(fmt::format("  power         average {:.1f} W, peak {:.1f} W", to_watts(average_power(r)),
                   to_watts(r.peak_power)));
  if (r.work) {
    const double kwh = to_kwh(r.charged.total());
    line(fmt::format("  work done     {} {}{}", human_number(r.work->count), r.work->unit,
                     kwh > 0 ? fmt::format(" — {} {} per kWh charged",
                                           human_number(r.work->count / kwh), r.work->unit)
                             : ""));
  }
  line("");
  const auto& in = r.intensity;
  line(fmt::format("  intensity     {:.3f} kg CO2/kWh — {}{}{}", in.kg_per_kwh,
                   in.zone.empty() ? "fixed value (" + in.source + ")" : in.zone,
                   in.name.empty() || in.name == in.zone ? "" : " (" + in.name + ")",
                   in.world_default ? " — no zone configured: world average used; set one with "
                                      "--country CODE or --zone ID"
                                    : ""));
  if (!in.zone.empty() && !in.dataset.empty()) {
    line(fmt::format("                dataset {}{}, {}; source: {}", in.dataset,
                     in.year ? fmt::format(" ({})", in.year) : "", in.basis, in.source));
  }
  line(fmt::format("  PUE           {:.2f} → facility energy {:.6f} kWh", r.pue, r.facility_kwh));
  line(fmt::format("  CO2           {} ({:.6f} kg)", human_mass(r.co2_kg), r.co2_kg));
  if (!r.equivalents.empty()) line("  equivalents");
  for (const auto& e : r.equivalents) {
    line(fmt::format("    {} {}  [{}; {}]", human_number(e.value), e.name, e.factor, e.source));
  }
  bool header = false;
  for (const auto& c : r.channels) {
    if (!header) {
      line("");
      line("  channels (whole machine)");
      header = true;
    }
    line(fmt::format("    {:<28} {:<6} {:>12.1f} J  avg {:>7.1f} W  peak {:>7.1f} W  {}{}{}",
                     c.label, c.domain, to_joules(c.energy), to_watts(c.average_power),
                     to_watts(c.peak_power), c.method, c.additive ? "" : ", part of another",
                     c.errors ? fmt::format(", {} read errors ({})", c.errors, c.last_error) : ""));
  }
  if (!r.notes.empty()) {
    line("");
    line("  notes");
    for (const auto& n : r.notes) line("    - " + n);
  }
  return out;
}

}  // namespace jobcarbon::report
