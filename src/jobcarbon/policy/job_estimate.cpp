#include <jobcarbon/policy/job_estimate.hpp>

#include <charconv>
#include <cmath>
#include <optional>
#include <vector>

#include <fmt/format.h>

namespace jobcarbon::policy {
namespace {

constexpr std::chrono::seconds kMaxTimeLimit = std::chrono::hours(24 * 366);

std::string duration_text(std::chrono::seconds s) {
  const auto total = s.count();
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, total % 3600 / 60);
}

// Parse a non-negative decimal integer filling all of S.
std::optional<long long> whole(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  long long v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t from = 0;
  for (;;) {
    const auto at = s.find(sep, from);
    out.push_back(s.substr(from, at == std::string_view::npos ? s.npos : at - from));
    if (at == std::string_view::npos) return out;
    from = at + 1;
  }
}

}  // namespace

std::expected<JobEstimate, std::string> estimate_job(const JobResources& r, const DevicePower& gpu,
                                                     const DevicePower& cpu,
                                                     double intensity_kg_per_kwh, double pue) {
  if (r.gpus < 0) return std::unexpected(fmt::format("--gpus {}: must be 0 or more", r.gpus));
  if (!(r.cpus >= 0 && r.cpus <= 1e6)) {
    return std::unexpected(fmt::format("--cpus {}: must be between 0 and 1000000", r.cpus));
  }
  if (r.gpus == 0 && r.cpus == 0) {
    return std::unexpected("the job asks for no GPU and no CPU: give --gpus and/or --cpus");
  }
  if (r.nodes < 1 || r.nodes > 100000) {
    return std::unexpected(fmt::format("--nodes {}: must be between 1 and 100000", r.nodes));
  }
  if (r.time_limit <= std::chrono::seconds(0) || r.time_limit > kMaxTimeLimit) {
    return std::unexpected("--time-limit: must be more than 0 and at most 366 days");
  }
  for (const auto* p : {&gpu, &cpu}) {
    if (!(p->watts >= 0 && std::isfinite(p->watts))) {
      return std::unexpected(
          fmt::format("power per device {} W is not a finite number >= 0", p->watts));
    }
  }
  if (!(intensity_kg_per_kwh >= 0 && std::isfinite(intensity_kg_per_kwh))) {
    return std::unexpected(
        fmt::format("intensity {} kg/kWh is not a finite number >= 0", intensity_kg_per_kwh));
  }
  if (!(pue >= 1 && std::isfinite(pue))) {
    return std::unexpected(fmt::format("PUE {} is below 1 or not finite", pue));
  }
  const double hours = std::chrono::duration<double, std::ratio<3600>>(r.time_limit).count();
  const double watts_per_node = r.gpus * gpu.watts + r.cpus * cpu.watts;
  JobEstimate e;
  e.kwh = watts_per_node * r.nodes * hours / 1000.0;
  e.co2 = KgCo2{e.kwh * pue * intensity_kg_per_kwh};
  std::string devices;
  if (r.gpus > 0)
    devices = fmt::format("{} GPU{} × {:.0f} W", r.gpus, r.gpus == 1 ? "" : "s", gpu.watts);
  if (r.cpus > 0) {
    devices += fmt::format("{}{:g} CPU{} × {:.1f} W", devices.empty() ? "" : " + ", r.cpus,
                           r.cpus == 1 ? "" : "s", cpu.watts);
  }
  e.summary =
      fmt::format("{} for {} on {} node{}: {:.2f} kWh × PUE {:.2f} × {:.3f} kg/kWh = {:.3f} kg CO2",
                  devices, duration_text(r.time_limit), r.nodes, r.nodes == 1 ? "" : "s", e.kwh,
                  pue, intensity_kg_per_kwh, e.co2.value);
  if (r.gpus > 0) e.summary += fmt::format("; GPU power {}", gpu.basis);
  if (r.cpus > 0) e.summary += fmt::format("; CPU power {}", cpu.basis);
  return e;
}

std::expected<std::chrono::seconds, std::string> parse_time_limit(std::string_view text) {
  using std::chrono::seconds;
  const auto bad = [&](std::string_view why) {
    return std::unexpected(fmt::format(
        "--time-limit '{}': {} (as Slurm writes it: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, "
        "D-HH:MM:SS; or 90s, 45m, 12h, 3d)",
        text.substr(0, 40), why));
  };
  if (text.empty()) return bad("empty");
  long long total = 0;
  const char unit = text.back();
  if (unit == 's' || unit == 'm' || unit == 'h' || unit == 'd') {
    const auto v = whole(text.substr(0, text.size() - 1));
    if (!v) return bad("not a whole number before the unit");
    const long long scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 86400;
    total = *v * scale;
  } else {
    std::string_view rest = text;
    long long days = 0;
    const bool has_days = rest.find('-') != std::string_view::npos;
    if (has_days) {
      const auto d = whole(rest.substr(0, rest.find('-')));
      if (!d) return bad("days are not a whole number");
      days = *d;
      rest = rest.substr(rest.find('-') + 1);
    }
    const auto parts = split(rest, ':');
    if (parts.size() > 3) return bad("too many ':'");
    std::vector<long long> v;
    for (auto p : parts) {
      auto n = whole(p);
      if (!n) return bad("a field is not a whole number");
      v.push_back(*n);
    }
    // Without days: MM, MM:SS, HH:MM:SS. With days: D-HH, D-HH:MM, D-HH:MM:SS.
    long long h = 0, m = 0, s = 0;
    if (has_days) {
      h = v[0];
      if (v.size() > 1) m = v[1];
      if (v.size() > 2) s = v[2];
    } else if (v.size() == 1) {
      m = v[0];
    } else if (v.size() == 2) {
      m = v[0], s = v[1];
    } else {
      h = v[0], m = v[1], s = v[2];
    }
    total = ((days * 24 + h) * 60 + m) * 60 + s;
  }
  if (total <= 0) return bad("must be more than 0 (UNLIMITED cannot be estimated)");
  if (seconds(total) > kMaxTimeLimit) return bad("longer than 366 days");
  return seconds(total);
}

}  // namespace jobcarbon::policy
