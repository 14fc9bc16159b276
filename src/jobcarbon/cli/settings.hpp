// The configuration files: /etc/jobcarbon/config.toml, then the user's, then command-line flags.
// Layout, keys and ranges: docs/configuration.md. A bad file is a fatal configuration error, so
// the loader throws; the message names the file, the line and the key.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jobcarbon::cli {

// What a configuration file (or the flags) set; an empty optional means "not set here", so that
// merge() can layer sources. Each field's key in the file is given beside it.
struct Settings {
  std::optional<std::string> country;           // country: ISO 3166 alpha-2 or alpha-3 code
  std::optional<std::string> zone;              // zone: grid zone id of the intensity table
  std::optional<std::string> dataset;           // dataset: name of an intensity dataset
  std::optional<double> intensity_kg_per_kwh;   // intensity: fixed kg CO2 per kWh, [0, 2]
  std::optional<double> pue;                    // pue: power usage effectiveness, [1, 3]
  std::optional<std::string> ledger;            // ledger: absolute path or URL (scheme://...)
  std::optional<double> interval_s;             // interval: sampling period, [0.01, 3600] s
  std::optional<bool> exclusive;                // exclusive: charge the whole machine
  std::optional<std::string> account;           // account: account the job is charged to
  std::optional<std::string> powercap_root;     // powercap-root: absolute directory
  std::optional<std::string> hwmon_root;        // hwmon-root: absolute directory
  std::optional<std::string> nvml_lib;          // nvml-lib: absolute path or a library name
  std::optional<std::string> intensity_series;  // intensity-series: absolute path, hourly CSV
  std::optional<std::string> store_command;     // store-command: full | name | none (ledger copy)
  // The node agent (jobcarbond, docs/agent.md); `jobcarbon run` and `status` read agent-socket.
  std::optional<std::string> agent_socket;     // agent-socket: absolute path of the socket
  std::optional<std::string> metrics_address;  // metrics-address: HOST:PORT, or "none"
  std::optional<std::string> state_dir;        // state-dir: absolute directory (journal, spool)
  std::optional<double> counter_interval_s;    // counter-interval: [0.1, 3600] s
  std::optional<double> power_interval_s;      // power-interval: [0.01, 60] s
  std::optional<double> running_update_interval_s;  // running-update-interval: [1, 86400] s
  std::optional<double> journal_interval_s;         // journal-interval: [0, 3600] s
  std::optional<std::string> cluster;               // cluster: the cluster's name in the ledger
  std::optional<std::string> node_name;             // node-name: this node's name in the ledger
  std::optional<std::string> slurm_user;            // slurm-user: SlurmdUser when it is not root
  std::optional<std::string> cgroup_root;           // cgroup-root: absolute directory
  std::optional<std::string> proc_root;             // proc-root: absolute directory

  // Where each set key came from, key (as spelled in the file) -> "FILE:LINE", so that errors
  // found later (an unknown country code) and the report can point at the line to change.
  std::map<std::string, std::string> origin;

  bool operator==(const Settings&) const = default;
};

enum class IfMissing {
  kError,  // an explicit --config FILE: a missing file is an error
  kEmpty,  // a default location: a missing file means "nothing configured here"
};

// Return the settings in the TOML text, whose errors are reported as coming from `source` (the
// file name). Throws std::runtime_error "SOURCE:LINE: key 'KEY': PROBLEM" for an unknown key
// (with the closest known key), a value of the wrong type or out of range, two keys that each
// choose the intensity (country, zone, intensity, intensity-series), and
// "SOURCE:LINE:COLUMN: TOML syntax error: ..." for text that is not TOML. Never throws anything
// else for any input text (tested with thousands of mutated documents).
Settings parse_settings(std::string_view toml_text, const std::filesystem::path& source);

// Return the settings in the file at `path` (see parse_settings). A file that does not exist is
// an error unless `if_missing` is kEmpty, when empty Settings are returned; a file that exists
// but cannot be read, is not a regular file, or is larger than 1 MiB is always an error.
Settings load_settings_file(const std::filesystem::path& path,
                            IfMissing if_missing = IfMissing::kError);

// Return `base` with every field that is set in `over` replaced by over's value (and origin).
// country, zone, intensity_kg_per_kwh and intensity_series are one choice (where the intensity
// comes from): when `over` sets any of them, base's four are cleared first, so a flag
// --intensity over a file's country is an override, not a conflict.
Settings merge(Settings base, const Settings& over);

// Return the default configuration files in the order they apply (later ones win):
// /etc/jobcarbon/config.toml, then $XDG_CONFIG_HOME/jobcarbon/config.toml, or
// $HOME/.config/jobcarbon/config.toml when xdg_config_home is empty or not absolute (as the XDG
// base directory spec says). Pass the environment variables' values, "" when unset. With both
// empty (no home at all) only the /etc file is returned.
std::vector<std::filesystem::path> default_config_paths(std::string_view home,
                                                        std::string_view xdg_config_home);

// Return the settings of the configuration files, before flags: with an explicit file
// (--config FILE) that file alone, which must exist (like ssh -F, so that a test or a job script
// is not changed by a stray user file); otherwise every file of `default_files` that exists,
// merged in order.
Settings load_configured_settings(const std::optional<std::filesystem::path>& explicit_file,
                                  std::span<const std::filesystem::path> default_files);

// Return the keys a configuration file may hold, as spelled in the file.
std::span<const std::string_view> settings_keys();

}  // namespace jobcarbon::cli
