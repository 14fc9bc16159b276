#include <jobcarbon/sensors/hwmon_sensor.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include <jobcarbon/os/counter_file.hpp>
#include <jobcarbon/os/file.hpp>

namespace jobcarbon::sensors {

namespace fs = std::filesystem;

namespace {

struct Chip {
  fs::path dir;             // root/hwmonX as found; changes when the chip is found again
  std::string attr_subdir;  // "" or "device" (legacy drivers keep every attribute there)
  fs::path device;          // canonical path of the parent device; empty when there is none
  std::string name;         // content of `name`; hwmonX when the chip has none
  fs::path attr_dir() const { return attr_subdir.empty() ? dir : dir / attr_subdir; }
};

struct Source {
  std::size_t chip;  // index into chips
  std::string file;  // "energy1_input", "power1_average"
  bool power;        // kPower: reject the ACPI "no reading" value
  // The chip's attr_dir() / file, kept open for the sampling path; re-pointed when the chip is
  // found again under a new hwmonN.
  os::CounterFile counter;
};

std::string trim(std::string s) {
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  return s;
}

bool is_number(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

// Order hwmon2 before hwmon10.
bool chip_order(const std::string& a, const std::string& b) {
  const auto split = [](const std::string& s) {
    const auto digits = s.find_last_not_of("0123456789") + 1;
    unsigned long n = 0;
    std::from_chars(s.data() + digits, s.data() + s.size(), n);
    return std::pair(s.substr(0, digits), digits < s.size() ? n : 0UL);
  };
  return split(a) < split(b);
}

// Return the canonical path of the chip's parent device (the target of hwmonX/device), or an
// empty path for a virtual chip that has none.
fs::path device_of(const fs::path& chip_dir) {
  std::error_code ec;
  const fs::path link = chip_dir / "device";
  if (!fs::exists(link, ec)) return {};
  auto device = fs::canonical(link, ec);
  return ec ? fs::path() : device;
}

// Return the chip in dir: where its attributes live and its name.
Chip read_chip(const fs::path& dir) {
  Chip chip;
  chip.dir = dir;
  std::error_code ec;
  // Legacy drivers (hwmon_device_register: applesmc, acpi_power_meter before 2025) leave hwmonX
  // with no `name` and no sensor file; everything is in the parent device's directory.
  if (!fs::exists(dir / "name", ec) && fs::exists(dir / "device" / "name", ec)) {
    chip.attr_subdir = "device";
  }
  chip.device = device_of(dir);
  auto name = os::read_line(chip.attr_dir() / "name");
  chip.name = name && !trim(*name).empty() ? trim(*name) : dir.filename().string();
  return chip;
}

// Return the domain and additivity of one channel, from the chip's name and the channel's label
// (for ACPI power meters, their power1_oem_info).
std::pair<Domain, bool> classify(const std::string& chip, bool acpi_meter,
                                 const std::string& label) {
  if (chip == "ibmpowernv") {
    // The OCC's "System" input is the whole node (APSS sum); "Chip N" is the processor's power
    // (chip ids are 0 and 8 on a 2-chip POWER9); "Chip N Vdd/Vdn", GPU and "APSS N" inputs are
    // rails and board channels inside those.
    if (label == "System") return {Domain::kNode, true};
    if (label.starts_with("Chip ") && is_number(std::string_view(label).substr(5))) {
      return {Domain::kCpuPackage, true};
    }
    return {Domain::kOther, false};
  }
  if (chip == "amd_energy") {
    // One Esocket counter per socket covers all its cores; Ecore counters are inside it.
    if (label.starts_with("Esocket")) return {Domain::kCpuPackage, true};
    return {Domain::kOther, false};
  }
  if (acpi_meter) {
    // NVIDIA Grace and Grace Hopper firmware (edk2-nvidia BpmpSsdtSocket*.asl) declares four
    // meters per socket, told apart only by their OEM string: "Module Power Socket N" is the
    // whole GH200 module (Grace, Hopper, memory, regulator losses): a node-level meter;
    // "Grace Power Socket N" is the Grace CPU socket with its memory; "CPU Power Socket N" and
    // "SysIO Power Socket N" are rails inside the Grace socket. Any other ACPI power meter is
    // the classic server meter of the whole node.
    if (label.starts_with("Grace Power")) return {Domain::kCpuPackage, true};
    if (label.starts_with("CPU Power") || label.starts_with("SysIO Power")) {
      return {Domain::kOther, false};
    }
    return {Domain::kNode, true};
  }
  return {Domain::kOther, false};
}

class HwmonSensor final : public Sensor {
 public:
  HwmonSensor(fs::path root, std::vector<Chip> chips, std::vector<Channel> channels,
              std::vector<Source> sources)
      : root_(std::move(root)),
        chips_(std::move(chips)),
        channels_(std::move(channels)),
        sources_(std::move(sources)),
        rebind_tried_(chips_.size()) {}

  std::string_view name() const override { return "hwmon"; }
  const std::vector<Channel>& channels() const override { return channels_; }

  void read(std::vector<Reading>& out) override {
    out.resize(sources_.size());
    std::fill(rebind_tried_.begin(), rebind_tried_.end(), false);
    for (std::size_t i = 0; i < sources_.size(); ++i) {
      Source& s = sources_[i];
      auto value = s.counter.read();
      if (!value && value.error().errno_value == ENOENT && !rebind_tried_[s.chip]) {
        rebind_tried_[s.chip] = true;
        if (rebind(s.chip)) value = s.counter.read();
      }
      if (!value) {
        out[i] = std::unexpected(std::move(value.error().message));
      } else if (s.power && *value == kAcpiInvalidPower) {
        out[i] = std::unexpected(
            fmt::format("{}: invalid reading {} (the firmware reported no power value)",
                        s.counter.path().string(), *value));
      } else {
        out[i] = *value;
      }
    }
  }

 private:
  // Find the chip again after its hwmonX vanished: the ACPI power meter driver (since 2025)
  // unregisters and re-registers its hwmon device when the firmware signals a configuration
  // change, and the new device gets a new number. Return true when found under a new name.
  bool rebind(std::size_t index) {
    Chip& chip = chips_[index];
    if (chip.device.empty()) return false;
    std::error_code ec;
    for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path() == chip.dir || device_of(it->path()) != chip.device) continue;
      Chip found = read_chip(it->path());
      if (found.name != chip.name) continue;  // one device can hold several chips
      chip.dir = found.dir;
      chip.attr_subdir = found.attr_subdir;
      for (Source& s : sources_) {
        if (s.chip == index) s.counter.reset(chip.attr_dir() / s.file);
      }
      return true;
    }
    return false;
  }

  fs::path root_;
  std::vector<Chip> chips_;
  std::vector<Channel> channels_;
  std::vector<Source> sources_;
  std::vector<char> rebind_tried_;  // per chip, within one read()
};

// One channel file found in a chip's directory, before it is checked.
struct Candidate {
  bool power = false;
  int index = 0;
  std::string file;   // "power1_average"
  std::string label;  // trimmed *_label, the OEM string of an ACPI meter, or "power1"
  bool labelled = false;
};

// Return the energyN_input, powerN_average and powerN_input files of a chip, one per channel,
// energy channels first, each kind by index. powerN_average is preferred to powerN_input because
// a mean over the chip's window misses less of what happens between two samples than an
// instantaneous value.
std::vector<Candidate> candidates_of(const Chip& chip) {
  std::map<std::pair<bool, int>, Candidate> by_channel;
  std::error_code ec;
  for (fs::directory_iterator it(chip.attr_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string file = it->path().filename().string();
    bool power;
    std::string_view rest(file);
    if (rest.starts_with("energy")) {
      power = false;
      rest.remove_prefix(6);
    } else if (rest.starts_with("power")) {
      power = true;
      rest.remove_prefix(5);
    } else {
      continue;
    }
    const auto underscore = rest.find('_');
    if (underscore == std::string_view::npos || !is_number(rest.substr(0, underscore))) continue;
    const std::string_view suffix = rest.substr(underscore);
    const bool wanted = power ? (suffix == "_average" || suffix == "_input") : suffix == "_input";
    if (!wanted) continue;
    int index = 0;
    std::from_chars(rest.data(), rest.data() + underscore, index);
    auto [slot, inserted] = by_channel.try_emplace({power, index});
    if (inserted || suffix == "_average") {
      slot->second.power = power;
      slot->second.index = index;
      slot->second.file = file;
    }
  }
  std::vector<Candidate> out;
  for (auto& [key, c] : by_channel) out.push_back(std::move(c));
  return out;
}

}  // namespace

Probe probe_hwmon(const fs::path& hwmon_root) {
  Probe probe;
  probe.name = "hwmon";

  std::vector<std::string> entries;
  std::error_code ec;
  for (fs::directory_iterator it(hwmon_root, ec), end; !ec && it != end; it.increment(ec)) {
    // Class entries are symlinks to /sys/devices/.../hwmon/hwmonX: follow them.
    if (fs::is_directory(it->path(), ec)) entries.push_back(it->path().filename().string());
    ec.clear();
  }
  if (entries.empty()) {
    probe.unavailable_reason = fmt::format("no hwmon chips under {}", hwmon_root.string());
    return probe;
  }
  std::sort(entries.begin(), entries.end(), chip_order);

  std::vector<Chip> chips;
  std::vector<Channel> channels;
  std::vector<Source> sources;
  std::string first_permission_error;
  std::vector<std::string> permission_notes;  // kept only when some channel stays readable
  std::size_t with_channels = 0;
  for (const std::string& entry : entries) {
    Chip chip = read_chip(hwmon_root / entry);
    std::vector<Candidate> found = candidates_of(chip);
    if (found.empty()) continue;
    ++with_channels;
    const fs::path attrs = chip.attr_dir();
    const auto oem = os::read_line(attrs / "power1_oem_info");
    const bool acpi_meter = chip.name == "power_meter" || oem.has_value();

    for (Candidate& c : found) {
      const std::string base = fmt::format("{}{}", c.power ? "power" : "energy", c.index);
      auto label = os::read_line(attrs / (base + "_label"));
      if (label && !trim(*label).empty()) {
        c.label = trim(*label);
        c.labelled = true;
      } else if (c.power && c.index == 1 && oem && !trim(*oem).empty()) {
        c.label = trim(*oem);
        c.labelled = true;
      } else {
        c.label = base;
      }
    }

    // Energy channels come first (candidates_of orders them so): a power channel is dropped as
    // a duplicate only when the energy counter with its label was kept.
    const std::size_t chip_index = chips.size();
    std::set<std::string> energy_labels;
    std::vector<std::string> duplicates;
    for (const Candidate& c : found) {
      const std::string base = fmt::format("{}{}", c.power ? "power" : "energy", c.index);
      if (c.power && c.labelled && energy_labels.contains(c.label)) {
        duplicates.push_back(base);
        continue;
      }
      const auto enable = os::read_int64(attrs / (base + "_enable"));
      if (enable && *enable == 0) {
        probe.notes.push_back(fmt::format("{} {} ({}) left out: disabled ({}_enable is 0)",
                                          chip.name, base, c.label, base));
        continue;
      }
      const auto first = os::read_int64(attrs / c.file);
      if (!first && (first.error().errno_value == EACCES || first.error().errno_value == EPERM)) {
        if (first_permission_error.empty()) first_permission_error = first.error().message;
        permission_notes.push_back(fmt::format("{} {} ({}) left out: {}", chip.name, base, c.label,
                                               first.error().message));
        continue;
      }
      Channel ch;
      ch.label = chip.name + " " + c.label;
      std::tie(ch.domain, ch.additive) = classify(chip.name, acpi_meter, c.label);
      ch.kind = c.power ? ChannelKind::kPower : ChannelKind::kEnergyCounter;
      ch.id = base;  // completed with chip and device below
      channels.push_back(std::move(ch));
      sources.push_back(Source{chip_index, c.file, c.power, os::CounterFile(attrs / c.file)});
      if (!c.power && c.labelled) energy_labels.insert(c.label);
    }
    if (!duplicates.empty()) {
      probe.notes.push_back(fmt::format(
          "{}: {} power channel(s) left out ({}...): the energy counter with the same label is "
          "read instead",
          chip.name, duplicates.size(), duplicates.front()));
    }
    chips.push_back(std::move(chip));
  }

  // Stable ids: chip name + parent device name; hwmonX only where there is no device, or where
  // two chips of the same name hang off the same device.
  std::vector<std::string> chip_token(chips.size());
  std::map<std::string, int> uses;
  for (std::size_t i = 0; i < chips.size(); ++i) {
    chip_token[i] = chips[i].device.empty() ? chips[i].dir.filename().string()
                                            : chips[i].device.filename().string();
    ++uses[chips[i].name + ":" + chip_token[i]];
  }
  for (std::size_t i = 0; i < chips.size(); ++i) {
    if (uses[chips[i].name + ":" + chip_token[i]] > 1) {
      chip_token[i] += "/" + chips[i].dir.filename().string();
    }
  }
  for (std::size_t i = 0; i < channels.size(); ++i) {
    const Chip& chip = chips[sources[i].chip];
    channels[i].id =
        fmt::format("hwmon:{}:{}:{}", chip.name, chip_token[sources[i].chip], channels[i].id);
  }

  if (channels.empty()) {
    if (!first_permission_error.empty()) {
      probe.unavailable_reason = fmt::format(
          "hwmon power and energy inputs are not readable by this user ({}). Some drivers make "
          "them root-only (amd_energy: mode 0440 since CVE-2020-12912); an admin can grant read "
          "access with `chgrp`/`chmod g+r` on those files at boot (see docs/sensors.md), or run "
          "jobcarbon as root.",
          first_permission_error);
    } else if (with_channels == 0) {
      probe.unavailable_reason =
          fmt::format("no power or energy channel in the {} hwmon chip(s) under {}", entries.size(),
                      hwmon_root.string());
    } else {
      probe.unavailable_reason =
          fmt::format("every hwmon power and energy channel under {} is disabled or left out",
                      hwmon_root.string());
    }
    return probe;
  }
  probe.notes.insert(probe.notes.end(), permission_notes.begin(), permission_notes.end());
  probe.sensor = std::make_unique<HwmonSensor>(hwmon_root, std::move(chips), std::move(channels),
                                               std::move(sources));
  return probe;
}

}  // namespace jobcarbon::sensors
