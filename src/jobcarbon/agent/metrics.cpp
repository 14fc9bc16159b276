#include <jobcarbon/agent/metrics.hpp>

#include <fmt/format.h>

#include <cmath>
#include <initializer_list>
#include <stdexcept>
#include <utility>

namespace jobcarbon::agent {
namespace {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// Prometheus parses sample values with Go's ParseFloat: "NaN", "+Inf", "-Inf" are its spellings,
// not fmt's "nan"/"inf". 15 significant digits are all a double holds reliably; the 16th and 17th
// are noise of the arithmetic before (0.000123 kg × 1000 = 0.12300000000000001 g) that would
// only confuse a reader. Rounding is monotonic, so a counter printed this way never decreases.
std::string float_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{:.15g}", v);
}

std::string joules(Microjoules e) {
  return exact_decimal(e.value, 6);
}
std::string watts(Microwatts p) {
  return exact_decimal(p.value, 6);
}
std::string seconds(Duration d) {
  return exact_decimal(d.count(), 9);
}  // Duration is in ns

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void sample(std::string& out, std::string_view name, Labels labels, std::string_view value) {
  out += name;
  if (labels.size() > 0) {
    out += '{';
    bool first = true;
    for (const auto& [key, val] : labels) {
      if (!first) out += ',';
      first = false;
      out += key;
      out += "=\"";
      out += escape_label_value(val);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

void domain_energy(std::string& out, std::string_view name, std::string_view help,
                   const std::vector<DomainEnergy>& parts) {
  family(out, name, "counter", help);
  for (const auto& p : parts) {
    sample(out, name, {{"domain", sensors::domain_name(p.domain)}}, joules(p.energy));
  }
}

}  // namespace

std::string exact_decimal(std::int64_t units, int decimals) {
  if (decimals < 0 || decimals > 18) {
    throw std::invalid_argument(fmt::format("exact_decimal: decimals {} not in [0, 18]", decimals));
  }
  // Work on the magnitude as unsigned so that INT64_MIN has one too.
  const bool negative = units < 0;
  const std::uint64_t magnitude = negative ? std::uint64_t{0} - static_cast<std::uint64_t>(units)
                                           : static_cast<std::uint64_t>(units);
  std::uint64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  const std::uint64_t whole = magnitude / scale;
  std::uint64_t fraction = magnitude % scale;
  std::string text = fmt::format("{}{}", negative ? "-" : "", whole);
  if (fraction != 0) {
    int digits = decimals;
    while (fraction % 10 == 0) {  // trailing zeros say nothing
      fraction /= 10;
      --digits;
    }
    fmt::format_to(std::back_inserter(text), ".{:0{}}", fraction, digits);
  }
  return text;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_metrics(const MetricsSnapshot& s) {
  std::string out;
  out.reserve(256 + 200 * (s.channels.size() * 2 + s.jobs.size() * 2 + s.sensors.size() * 3));

  // Node channels. Labels name the channel (unique), its sensor (joins with jobcarbon_sensor_*),
  // its domain (what sums are meaningful) and the name a person knows it by.
  family(out, "jobcarbon_node_energy_joules_total", "counter",
         "Energy measured on one channel of the node since the agent started.");
  for (const auto& c : s.channels) {
    sample(out, "jobcarbon_node_energy_joules_total",
           {{"sensor", c.sensor},
            {"channel", c.channel},
            {"domain", sensors::domain_name(c.domain)},
            {"label", c.label}},
           joules(c.energy));
  }
  family(out, "jobcarbon_node_power_watts", "gauge",
         "Mean power of one channel of the node over the last sampling interval.");
  for (const auto& c : s.channels) {
    if (!c.power) continue;
    sample(out, "jobcarbon_node_power_watts",
           {{"sensor", c.sensor},
            {"channel", c.channel},
            {"domain", sensors::domain_name(c.domain)},
            {"label", c.label}},
           watts(*c.power));
  }
  domain_energy(out, "jobcarbon_node_unallocated_energy_joules_total",
                "Energy of the node that no running job was charged, since the agent started.",
                s.unallocated);
  domain_energy(out, "jobcarbon_node_idle_energy_joules_total",
                "Energy of the node measured while no job ran on it, since the agent started.",
                s.idle);

  // Running jobs.
  family(out, "jobcarbon_job_energy_joules_total", "counter",
         "Energy attributed to a running job on this node so far.");
  for (const auto& j : s.jobs) {
    sample(out, "jobcarbon_job_energy_joules_total",
           {{"cluster", j.cluster},
            {"job_id", j.job_id},
            {"step", j.step},
            {"user", j.user},
            {"account", j.account}},
           joules(j.energy));
  }
  // Grams, not the kilograms of KgCo2: Prometheus names carry base units, and promtool's lint
  // (exit 3) rejects "kilograms".
  family(out, "jobcarbon_job_co2_grams_total", "counter",
         "CO2 emitted for a running job's energy on this node so far, in grams.");
  for (const auto& j : s.jobs) {
    sample(out, "jobcarbon_job_co2_grams_total",
           {{"cluster", j.cluster},
            {"job_id", j.job_id},
            {"step", j.step},
            {"user", j.user},
            {"account", j.account}},
           float_value(j.co2.value * 1000));
  }

  // Sensors: node_exporter's practice of every collector reporting its own health.
  family(out, "jobcarbon_sensor_up", "gauge",
         "Whether the last read of every channel of the sensor succeeded (1) or not (0).");
  for (const auto& x : s.sensors) {
    sample(out, "jobcarbon_sensor_up", {{"sensor", x.sensor}}, x.up ? "1" : "0");
  }
  family(out, "jobcarbon_sensor_read_duration_seconds", "gauge",
         "Time the last read of the sensor took.");
  for (const auto& x : s.sensors) {
    sample(out, "jobcarbon_sensor_read_duration_seconds", {{"sensor", x.sensor}},
           seconds(x.last_read_duration));
  }
  family(out, "jobcarbon_sensor_read_errors_total", "counter",
         "Failed channel reads of the sensor since the agent started.");
  for (const auto& x : s.sensors) {
    sample(out, "jobcarbon_sensor_read_errors_total", {{"sensor", x.sensor}},
           fmt::format("{}", x.read_errors));
  }

  // The agent itself, under the names every Prometheus client library uses.
  family(out, "process_cpu_seconds_total", "counter",
         "Total user and system CPU time spent in seconds.");
  sample(out, "process_cpu_seconds_total", {}, seconds(s.process.cpu_time));
  family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  sample(out, "process_resident_memory_bytes", {},
         fmt::format("{}", s.process.resident_memory_bytes));
  return out;
}

}  // namespace jobcarbon::agent
