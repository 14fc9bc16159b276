#include <jobcarbon/sensors/rapl_sensor.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include <jobcarbon/os/counter_file.hpp>
#include <jobcarbon/os/file.hpp>

namespace jobcarbon::sensors {

namespace fs = std::filesystem;

namespace {

// The interface that reads RAPL through the MSRs. Its zones are preferred: the MMIO
// (intel-rapl-mmio) and TPMI (intel-rapl-tpmi) interfaces of newer parts repeat the same
// package counter, and reading both would count the package twice.
constexpr std::string_view kMsrControlType = "intel-rapl";

struct Zone {
  std::string dir_name;  // "intel-rapl:0:0": the key that makes a zone count once
  fs::path path;         // where it is read: the class entry when there is one
  std::string name;      // content of `name`: "package-0", "dram", "core", "psys", ...
};

// Return the control type of a zone directory name: "intel-rapl" for "intel-rapl:0:1".
std::string_view control_type(std::string_view dir_name) {
  return dir_name.substr(0, dir_name.find(':'));
}

// Return the parent zone's directory name ("intel-rapl:0" for "intel-rapl:0:1"), or "" for a
// top-level zone ("intel-rapl:0").
std::string parent_dir_name(std::string_view dir_name) {
  const auto last = dir_name.rfind(':');
  if (last == std::string_view::npos || dir_name.find(':') == last) return {};
  return std::string(dir_name.substr(0, last));
}

// Order zone names as a person reads them: "intel-rapl:2" before "intel-rapl:10", a package
// before its subzones, and MSR zones before the other interfaces.
bool zone_order(const std::string& a, const std::string& b) {
  const bool a_msr = control_type(a) == kMsrControlType;
  const bool b_msr = control_type(b) == kMsrControlType;
  if (a_msr != b_msr) return a_msr;
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const auto ea = std::min(a.find(':', i), a.size());
    const auto eb = std::min(b.find(':', j), b.size());
    const std::string_view ta(a.data() + i, ea - i), tb(b.data() + j, eb - j);
    std::uint64_t na = 0, nb = 0;
    const bool a_num = !ta.empty() && std::from_chars(ta.begin(), ta.end(), na).ptr == ta.end();
    const bool b_num = !tb.empty() && std::from_chars(tb.begin(), tb.end(), nb).ptr == tb.end();
    if (a_num && b_num && na != nb) return na < nb;
    if (a_num != b_num) return a_num;
    if (!a_num && ta != tb) return ta < tb;
    i = ea + 1;
    j = eb + 1;
  }
  return a.size() - std::min(i, a.size()) < b.size() - std::min(j, b.size());
}

// Return true for "package-N" and "package-N-die-M" (AMD names its dies this way; the dies of
// one package are disjoint, so they add up to the package).
bool is_package_name(std::string_view name) {
  constexpr std::string_view kPrefix = "package-";
  if (!name.starts_with(kPrefix)) return false;
  name.remove_prefix(kPrefix.size());
  const auto digits = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
  };
  const auto die = name.find("-die-");
  if (die == std::string_view::npos) return digits(name);
  return digits(name.substr(0, die)) && digits(name.substr(die + 5));
}

// Return true when dir holds a zone: a counter file. Control-type entries (intel-rapl,
// intel-rapl-mmio, intel-rapl-tpmi) have `enabled` but no energy_uj. exists() only stats the
// file, which works although energy_uj is 0400.
bool is_zone_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::exists(dir / "energy_uj", ec);
}

// Add dir (found as dir_name) and, recursively, the subzones nested inside it, unless a zone of
// that name is known already. Only subdirectories named "<dir_name>:<n>" are followed: a zone
// also holds `device` and `subsystem` links that lead back up the tree (a loop for a walker that
// follows every link) and a runtime-PM directory `power/`.
void add_zone(std::map<std::string, fs::path>& found, const std::string& dir_name,
              const fs::path& dir) {
  found.try_emplace(dir_name, dir);
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string child = it->path().filename().string();
    if (child.size() > dir_name.size() + 1 && child.starts_with(dir_name + ":") &&
        is_zone_dir(it->path()) && !found.contains(child)) {
      add_zone(found, child, it->path());
    }
  }
}

// Return the domain and additivity of a zone from its name (never from its directory name:
// intel-rapl:1 is package-1 on a server, psys on a laptop, package-0-die-1 on a Threadripper).
std::pair<Domain, bool> classify(std::string_view name) {
  if (is_package_name(name)) return {Domain::kCpuPackage, true};
  if (name == "dram") return {Domain::kDram, true};
  // core and uncore lie inside their package; psys covers the package and the rest of the SoC.
  return {Domain::kOther, false};
}

std::string root_only_reason(const fs::path& root, const std::string& example_error) {
  return fmt::format(
      "RAPL energy counters are readable by root only ({}). Since Linux 5.10 energy_uj is mode "
      "0400, the fix for the PLATYPUS power side channel (CVE-2020-8694). An admin can grant read "
      "access at every boot, e.g. from a udev rule or a boot-time unit: `chmod o+r "
      "{}/*/energy_uj` for all users, or `chgrp GROUP ...` plus `chmod g+r ...` for one group "
      "(see docs/sensors.md); or run jobcarbon as root. Until then jobcarbon falls back to "
      "estimates for CPU and memory energy.",
      example_error, root.string());
}

class RaplSensor final : public Sensor {
 public:
  RaplSensor(std::vector<Channel> channels, std::vector<os::CounterFile> counters)
      : channels_(std::move(channels)), counters_(std::move(counters)) {}

  std::string_view name() const override { return "rapl"; }
  const std::vector<Channel>& channels() const override { return channels_; }

  void read(std::vector<Reading>& out) override {
    out.resize(counters_.size());
    for (std::size_t i = 0; i < counters_.size(); ++i) {
      auto value = counters_[i].read();
      if (value) {
        out[i] = *value;
      } else {
        out[i] = std::unexpected(std::move(value.error().message));
      }
    }
  }

 private:
  std::vector<Channel> channels_;
  // energy_uj of each channel, same order, kept open: the open costs more than the read.
  std::vector<os::CounterFile> counters_;
};

}  // namespace

Probe probe_rapl(const fs::path& powercap_root) {
  Probe probe;
  probe.name = "rapl";
  const std::string no_zones =
      fmt::format("no RAPL powercap zones under {}", powercap_root.string());

  // Every entry of /sys/class/powercap is a symlink into /sys/devices/virtual/powercap: test
  // the entry's target (is_directory follows links), never the entry's own type. Flat entries
  // go first so that a subzone is read through its class entry, the path admins and tests see.
  std::map<std::string, fs::path> found;
  std::error_code ec;
  std::vector<std::pair<std::string, fs::path>> top;
  for (fs::directory_iterator it(powercap_root, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string dir_name = it->path().filename().string();
    if (dir_name.find(':') != std::string::npos && is_zone_dir(it->path())) {
      found.try_emplace(dir_name, it->path());
      top.emplace_back(dir_name, it->path());
    }
  }
  for (const auto& [dir_name, dir] : top) add_zone(found, dir_name, dir);
  if (found.empty()) {
    probe.unavailable_reason = no_zones;
    return probe;
  }

  std::vector<Zone> zones;
  for (const auto& [dir_name, dir] : found) {
    auto name = os::read_line(dir / "name");
    if (!name) {
      probe.notes.push_back(
          fmt::format("{}: {}; treated as a sub-domain", dir_name, name.error().message));
    }
    zones.push_back(Zone{dir_name, dir, name ? *name : dir_name});
  }
  std::sort(zones.begin(), zones.end(),
            [](const Zone& a, const Zone& b) { return zone_order(a.dir_name, b.dir_name); });

  std::map<std::string, std::string> name_of;  // dir name → zone name, for labels
  for (const Zone& z : zones) name_of[z.dir_name] = z.name;

  std::vector<Channel> channels;
  std::vector<os::CounterFile> counters;
  std::map<std::string, std::string> msr_zone_of;  // label ("package-0 dram") → MSR dir name
  std::string first_permission_error;
  std::vector<std::string> permission_notes;  // kept only when some zone stays readable
  for (const Zone& z : zones) {
    const std::string parent = parent_dir_name(z.dir_name);
    const auto parent_name = name_of.find(parent);
    const std::string label =
        parent_name == name_of.end() ? z.name : parent_name->second + " " + z.name;

    const bool msr_zone = control_type(z.dir_name) == kMsrControlType;
    if (const auto msr = msr_zone_of.find(label); !msr_zone && msr != msr_zone_of.end()) {
      probe.notes.push_back(fmt::format("{} ({}) left out: same counter as {}, read already",
                                        z.dir_name, label, msr->second));
      continue;
    }

    // Note: `enabled` is not checked. It is the zone's power-limit enable, not the counter's:
    // the dual-socket Xeon capture (ceems) shows packages and DRAM with enabled=0 whose counters
    // run, and AMD zones (codecarbon Threadripper) are always enabled=0 because AMD has no power
    // limits in RAPL. Skipping them would lose real measurements.
    const fs::path counter = z.path / "energy_uj";
    const auto first = os::read_int64(counter);
    if (!first && (first.error().errno_value == EACCES || first.error().errno_value == EPERM)) {
      if (first_permission_error.empty()) first_permission_error = first.error().message;
      permission_notes.push_back(fmt::format(
          "{} ({}) left out: {}: energy_uj is root-only since Linux 5.10 (CVE-2020-8694); see "
          "docs/sensors.md to grant read access",
          z.dir_name, label, first.error().message));
      continue;
    }
    if (!first) {
      // Kept: a transient failure (EIO) at start must not hide the zone for the whole run.
      probe.notes.push_back(
          fmt::format("{} ({}): first read failed: {}", z.dir_name, label, first.error().message));
    }

    Channel c;
    c.id = "rapl:" + z.dir_name;
    c.label = label;
    std::tie(c.domain, c.additive) = classify(z.name);
    c.kind = ChannelKind::kEnergyCounter;
    const auto range = os::read_int64(z.path / "max_energy_range_uj");
    if (range && *range > 0) {
      c.wrap_range = Microjoules(*range);
    } else {
      probe.notes.push_back(
          fmt::format("{} ({}): no usable max_energy_range_uj ({}); a wrap will look like a reset",
                      z.dir_name, label, range ? "not positive" : range.error().message));
    }
    channels.push_back(std::move(c));
    counters.emplace_back(counter);
    // Registered only once kept, so that an MMIO zone stands in for an MSR zone left out.
    if (msr_zone) msr_zone_of.try_emplace(label, z.dir_name);
  }

  if (channels.empty()) {
    probe.unavailable_reason = first_permission_error.empty()
                                   ? no_zones
                                   : root_only_reason(powercap_root, first_permission_error);
    return probe;
  }
  probe.notes.insert(probe.notes.end(), permission_notes.begin(), permission_notes.end());
  probe.sensor = std::make_unique<RaplSensor>(std::move(channels), std::move(counters));
  return probe;
}

}  // namespace jobcarbon::sensors
