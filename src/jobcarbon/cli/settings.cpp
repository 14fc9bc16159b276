#include <jobcarbon/cli/settings.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <ranges>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <variant>

#include <fmt/format.h>
#include <toml++/toml.h>

#include <jobcarbon/carbon/text_match.hpp>
#include <jobcarbon/os/file.hpp>

namespace jobcarbon::cli {

namespace {

namespace fs = std::filesystem;

// Larger than any sensible configuration; keeps a mistaken path (a log, a device) from being read.
constexpr std::uintmax_t kMaxFileBytes = 1 << 20;

// The table that wraps the keys in the alternative layout ([jobcarbon] ... ).
constexpr std::string_view kWrapperTable = "jobcarbon";

enum class Check {
  kText,          // any non-empty string
  kAbsolutePath,  // a path starting with '/': relative to what? the job's directory varies
  kLibrary,       // an absolute path, or a bare library name that dlopen searches for
  kLedger,        // an absolute path, or a URL scheme://...
  kNumber,        // a finite number within [min, max]
  kBool,
  kOneOf,  // one of the words in Key::range, separated by '|'
};

using Field = std::variant<std::optional<std::string> Settings::*,
                           std::optional<double> Settings::*, std::optional<bool> Settings::*>;

struct Key {
  std::string_view name;
  Field field;
  Check check;
  double min = 0;
  double max = 0;
  std::string_view range = {};  // how the range is said in an error
};

// The ranges are sanity bounds that catch unit mistakes (g/kWh for kg/kWh, ms for s), not
// physics: the dirtiest grids are near 1.1 kg/kWh; PUE of real data centres is 1.03 to ~2.5;
// sampling faster than 100 Hz costs more than it measures (and `run` refuses it).
constexpr std::array kKeys{
    Key{"country", &Settings::country, Check::kText},
    Key{"zone", &Settings::zone, Check::kText},
    Key{"dataset", &Settings::dataset, Check::kText},
    Key{"intensity", &Settings::intensity_kg_per_kwh, Check::kNumber, 0.0, 2.0,
        "must be between 0 and 2 kg CO2 per kWh (is it in g/kWh?)"},
    Key{"pue", &Settings::pue, Check::kNumber, 1.0, 3.0,
        "must be between 1.0 (no overhead) and 3.0"},
    Key{"ledger", &Settings::ledger, Check::kLedger},
    Key{"interval", &Settings::interval_s, Check::kNumber, 0.01, 3600.0,
        "must be between 0.01 and 3600 seconds"},
    Key{"exclusive", &Settings::exclusive, Check::kBool},
    Key{"account", &Settings::account, Check::kText},
    Key{"powercap-root", &Settings::powercap_root, Check::kAbsolutePath},
    Key{"hwmon-root", &Settings::hwmon_root, Check::kAbsolutePath},
    Key{"nvml-lib", &Settings::nvml_lib, Check::kLibrary},
    Key{"intensity-series", &Settings::intensity_series, Check::kAbsolutePath},
    Key{"store-command", &Settings::store_command, Check::kOneOf, 0, 0, "full|name|none"},
    Key{"agent-socket", &Settings::agent_socket, Check::kAbsolutePath},
    Key{"metrics-address", &Settings::metrics_address, Check::kText},
    Key{"state-dir", &Settings::state_dir, Check::kAbsolutePath},
    Key{"counter-interval", &Settings::counter_interval_s, Check::kNumber, 0.1, 3600.0,
        "must be between 0.1 and 3600 seconds"},
    Key{"power-interval", &Settings::power_interval_s, Check::kNumber, 0.01, 60.0,
        "must be between 0.01 and 60 seconds"},
    Key{"running-update-interval", &Settings::running_update_interval_s, Check::kNumber, 1.0,
        86400.0, "must be between 1 and 86400 seconds"},
    Key{"journal-interval", &Settings::journal_interval_s, Check::kNumber, 0.0, 3600.0,
        "must be between 0 (every boundary) and 3600 seconds"},
    Key{"cluster", &Settings::cluster, Check::kText},
    Key{"node-name", &Settings::node_name, Check::kText},
    Key{"slurm-user", &Settings::slurm_user, Check::kText},
    Key{"cgroup-root", &Settings::cgroup_root, Check::kAbsolutePath},
    Key{"proc-root", &Settings::proc_root, Check::kAbsolutePath},
};

// Each of these keys alone says where the carbon intensity comes from: a file may set one of
// them, and a later source that sets one replaces whichever an earlier source set.
constexpr std::array<std::string_view, 4> kIntensityChoice{"country", "zone", "intensity",
                                                           "intensity-series"};

const std::array<std::string_view, kKeys.size()> kKeyNames = [] {
  std::array<std::string_view, kKeys.size()> names;
  std::ranges::transform(kKeys, names.begin(), &Key::name);
  return names;
}();

const Key* find_key(std::string_view name) {
  const auto it = std::ranges::find(kKeys, name, &Key::name);
  return it == kKeys.end() ? nullptr : &*it;
}

// Return the known key an unknown one most likely meant, or "" when none is close: within two
// edits (ignoring case and '_' for '-'), or a known key followed by a unit suffix
// ("interval_s", "intensity_kg_per_kwh", the field names of Settings).
std::string_view closest_key(std::string_view unknown) {
  if (unknown.size() > 64) return {};
  std::string u = carbon::lower(unknown);  // the usual slips: case, and '_' for '-'
  std::ranges::replace(u, '_', '-');
  std::string_view best;
  std::size_t best_distance = 3;
  for (const Key& k : kKeys) {
    const std::size_t d = carbon::edit_distance(u, k.name);
    if (d < best_distance) best = k.name, best_distance = d;
  }
  if (!best.empty()) return best;
  for (const Key& k : kKeys) {
    if (u.starts_with(k.name) && u.size() > k.name.size() && u[k.name.size()] == '-' &&
        k.name.size() > best.size()) {
      best = k.name;
    }
  }
  return best;
}

// Return "a string", "an integer", ... for the node type T, as an error says what it found.
std::string_view type_name(toml::node_type t) {
  static constexpr std::array<std::string_view, 10> kNames{
      "nothing",   "a table", "an array", "a string",   "an integer", "a floating-point number",
      "a boolean", "a date",  "a time",   "a date-time"};  // in toml::node_type's order
  static_assert(static_cast<int>(toml::node_type::date_time) == 9);
  return kNames.at(static_cast<std::size_t>(t));
}

// Return true for "scheme://rest" (RFC 3986 scheme: a letter, then letters, digits, + - .).
bool is_url(std::string_view s) {
  const auto sep = s.find("://");
  if (sep == std::string_view::npos || sep == 0) return false;
  if (!std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  return std::ranges::all_of(s.substr(0, sep), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  });
}

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  // Read the keys of `table`; `prefix` is "" at the top level, "jobcarbon." inside the wrapper.
  void read(const toml::table& table, std::string_view prefix) {
    for (auto&& [key, node] : table) {
      const std::string_view name = key.str();
      const auto line = key.source().begin.line;
      if (prefix.empty() && name == kWrapperTable) {
        const toml::table* inner = node.as_table();
        if (inner == nullptr) {
          fail(line, fmt::format("key '{}': expected a table of settings, found {}", name,
                                 type_name(node.type())));
        }
        read(*inner, fmt::format("{}.", kWrapperTable));
        continue;
      }
      const Key* spec = find_key(name);
      if (spec == nullptr) fail_unknown(line, fmt::format("{}{}", prefix, name), name);
      if (const auto other = lines_.find(spec->name); other != lines_.end()) {
        // toml++ walks tables in key order, not file order: blame the later line.
        fail(std::max(line, other->second), fmt::format("key '{}' is set twice (also at line {})",
                                                        spec->name, std::min(line, other->second)));
      }
      lines_.emplace(spec->name, line);
      std::visit(
          [&](auto field) {
            using T = typename std::remove_reference_t<decltype(settings_.*field)>::value_type;
            settings_.*field = value_of(*spec, node, static_cast<T*>(nullptr));
          },
          spec->field);
      settings_.origin[std::string(spec->name)] = fmt::format("{}:{}", source_, line);
    }
  }

  // Return what was read, after the checks that span keys.
  Settings take() {
    std::vector<std::pair<toml::source_index, std::string_view>> choices;  // (line, key)
    for (const std::string_view key : kIntensityChoice) {
      if (const auto it = lines_.find(key); it != lines_.end())
        choices.emplace_back(it->second, key);
    }
    std::ranges::sort(choices);
    if (choices.size() > 1) {
      fail(choices[1].first,
           fmt::format("key '{}': conflicts with '{}' at line {}: country, zone, intensity and "
                       "intensity-series each choose the carbon intensity; set one",
                       choices[1].second, choices[0].second, choices[0].first));
    }
    return std::move(settings_);
  }

 private:
  [[noreturn]] void fail(toml::source_index line, std::string_view problem) const {
    throw std::runtime_error(fmt::format("{}:{}: {}", source_, line, problem));
  }

  [[noreturn]] void fail_unknown(toml::source_index line, std::string_view shown,
                                 std::string_view name) const {
    const std::string_view suggestion = closest_key(name);
    if (!suggestion.empty()) {
      fail(line, fmt::format("unknown key '{}' (did you mean '{}'?)", shown, suggestion));
    }
    fail(line, fmt::format("unknown key '{}' (known keys: {})", shown, fmt::join(kKeyNames, ", ")));
  }

  [[noreturn]] void fail_type(const Key& spec, const toml::node& node,
                              std::string_view expected) const {
    fail(node.source().begin.line, fmt::format("key '{}': expected {}, found {}", spec.name,
                                               expected, type_name(node.type())));
  }

  // Return the node's value, checked, as the field's type (the unused pointer picks the overload).
  std::optional<double> value_of(const Key& spec, const toml::node& node, double*) const {
    double v;
    std::string shown;
    if (const auto* i = node.as_integer()) {
      v = static_cast<double>(i->get());
      shown = fmt::format("{}", i->get());
    } else if (const auto* f = node.as_floating_point()) {
      v = f->get();
      shown = fmt::format("{}", v);
    } else {
      fail_type(spec, node, "a number");
    }
    if (!std::isfinite(v) || v < spec.min || v > spec.max) {
      fail(node.source().begin.line,
           fmt::format("key '{}': {} is out of range: {}", spec.name, shown, spec.range));
    }
    return v;
  }

  std::optional<bool> value_of(const Key& spec, const toml::node& node, bool*) const {
    const auto* b = node.as_boolean();
    if (b == nullptr) fail_type(spec, node, "true or false");
    return b->get();
  }

  std::optional<std::string> value_of(const Key& spec, const toml::node& node, std::string*) const {
    const auto* s = node.as_string();
    if (s == nullptr) fail_type(spec, node, "a string");
    const std::string& v = s->get();
    const auto line = node.source().begin.line;
    if (v.empty()) fail(line, fmt::format("key '{}': must not be empty", spec.name));
    if (v.find('\0') != std::string::npos) {
      fail(line, fmt::format("key '{}': contains a NUL character", spec.name));
    }
    const bool absolute = v.front() == '/';
    switch (spec.check) {
      case Check::kAbsolutePath:
        if (!absolute) fail_relative(spec, line, v);
        break;
      case Check::kLibrary:
        if (!absolute && v.find('/') != std::string::npos) fail_relative(spec, line, v);
        break;
      case Check::kLedger:
        if (!absolute && !is_url(v)) fail_relative(spec, line, v);
        break;
      case Check::kOneOf: {
        bool known = false;
        for (const auto word : std::views::split(spec.range, '|')) {
          known = known || std::string_view(word.begin(), word.end()) == v;
        }
        if (!known) {
          fail(line, fmt::format("key '{}': '{}' is not one of {}", spec.name, v, spec.range));
        }
        break;
      }
      case Check::kText:
      case Check::kNumber:
      case Check::kBool:
        break;
    }
    return v;
  }

  [[noreturn]] void fail_relative(const Key& spec, toml::source_index line,
                                  std::string_view v) const {
    fail(line, fmt::format("key '{}': '{}' is not an absolute path (paths in configuration files "
                           "must start with '/'; '~' is not expanded){}",
                           spec.name, v,
                           spec.check == Check::kLibrary  ? ", or a bare library name"
                           : spec.check == Check::kLedger ? ", or a URL such as sqlite:///PATH"
                                                          : ""));
  }

  std::string source_;
  Settings settings_;
  std::map<std::string_view, toml::source_index> lines_;  // key -> line where it was set
};

}  // namespace

Settings parse_settings(std::string_view toml_text, const fs::path& source) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text, source.string());
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(fmt::format("{}:{}:{}: TOML syntax error: {}", source.string(),
                                         e.source().begin.line, e.source().begin.column,
                                         e.description()));
  }
  Reader reader(source.string());
  reader.read(doc, "");
  return reader.take();
}

Settings load_settings_file(const fs::path& path, IfMissing if_missing) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) {
    if (if_missing == IfMissing::kEmpty) return {};
    throw std::runtime_error(fmt::format("{}: configuration file not found", path.string()));
  }
  if (ec) {
    throw std::runtime_error(fmt::format("{}: cannot read: {}", path.string(), ec.message()));
  }
  if (st.type() != fs::file_type::regular) {
    throw std::runtime_error(fmt::format("{}: not a regular file", path.string()));
  }
  if (const auto size = fs::file_size(path, ec); !ec && size > kMaxFileBytes) {
    throw std::runtime_error(
        fmt::format("{}: larger than 1 MiB; not a configuration file", path.string()));
  }
  auto text = os::read_file(path);
  if (!text) {
    // Removed between the status and the open: the same as never there.
    if (text.error().errno_value == ENOENT && if_missing == IfMissing::kEmpty) return {};
    throw std::runtime_error(
        fmt::format("cannot read configuration file {}", text.error().message));
  }
  return parse_settings(*text, path);
}

Settings merge(Settings base, const Settings& over) {
  // A later source that chooses the intensity replaces the earlier choice as a whole: the user's
  // --intensity 0.2 over a site-wide country = "DE" is not a conflict.
  const bool over_chooses_intensity =
      over.country || over.zone || over.intensity_kg_per_kwh || over.intensity_series;
  if (over_chooses_intensity) {
    base.country.reset();
    base.zone.reset();
    base.intensity_kg_per_kwh.reset();
    base.intensity_series.reset();
    for (const std::string_view key : kIntensityChoice) base.origin.erase(std::string(key));
  }
  for (const Key& k : kKeys) {
    std::visit(
        [&](auto field) {
          if (!(over.*field).has_value()) return;
          base.*field = over.*field;
          const std::string name(k.name);
          if (const auto it = over.origin.find(name); it != over.origin.end()) {
            base.origin[name] = it->second;
          } else {
            base.origin.erase(name);  // set by a source that does not say where (flags)
          }
        },
        k.field);
  }
  return base;
}

std::vector<fs::path> default_config_paths(std::string_view home,
                                           std::string_view xdg_config_home) {
  std::vector<fs::path> paths{"/etc/jobcarbon/config.toml"};
  if (xdg_config_home.starts_with('/')) {
    paths.push_back(fs::path(xdg_config_home) / "jobcarbon" / "config.toml");
  } else if (!home.empty()) {
    paths.push_back(fs::path(home) / ".config" / "jobcarbon" / "config.toml");
  }
  return paths;
}

Settings load_configured_settings(const std::optional<fs::path>& explicit_file,
                                  std::span<const fs::path> default_files) {
  if (explicit_file) return load_settings_file(*explicit_file, IfMissing::kError);
  Settings settings;
  for (const fs::path& file : default_files) {
    settings = merge(std::move(settings), load_settings_file(file, IfMissing::kEmpty));
  }
  return settings;
}

std::span<const std::string_view> settings_keys() {
  return kKeyNames;
}

}  // namespace jobcarbon::cli
