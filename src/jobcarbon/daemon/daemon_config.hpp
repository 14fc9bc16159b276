// jobcarbond's configuration: the configuration file's keys (docs/configuration.md, the agent
// keys included) with the daemon's flags over them, resolved into what the agent runs with.
#pragma once

#include <sys/types.h>

#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <jobcarbon/cli/settings.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::daemon {

inline constexpr std::string_view kDefaultStateDir = "/var/lib/jobcarbon";

struct DaemonFlags {
  std::optional<std::string> config;
  std::optional<std::string> socket;
  std::optional<std::string> state_dir;
  std::optional<std::string> metrics_address;
  std::optional<std::string> ledger;
};

struct ListenAddress {
  std::string host;
  int port = 0;
  bool operator==(const ListenAddress&) const = default;
};

struct DaemonConfig {
  cli::Settings settings;  // intensity, PUE and sensor paths as `jobcarbon run` reads them
  std::filesystem::path socket;
  std::filesystem::path state_dir;
  std::filesystem::path cgroup_root;
  std::optional<std::string> metrics_host;  // nullopt: no /metrics
  int metrics_port = 0;
  Duration counter_interval{std::chrono::seconds(5)};
  Duration power_interval{std::chrono::milliseconds(100)};
  Duration running_update_interval{std::chrono::seconds(60)};
  Duration journal_interval{std::chrono::seconds(1)};
  std::string cluster;
  std::string node;
  std::optional<uid_t> slurm_uid;
  std::string ledger;   // path or URL
  std::string boot_id;  // of the running kernel
};

// Return the address in text: "HOST:PORT", "[IPv6]:PORT", ":PORT" (all addresses), or nullopt
// for "none"; an error naming what is wrong (no port, a port outside 1-65535, an empty host).
std::expected<std::optional<ListenAddress>, std::string> parse_listen_address(
    std::string_view text);

// Return the daemon's configuration: --config FILE (or /etc/jobcarbon/config.toml when it exists),
// the flags over it, defaults for the rest. Throws std::runtime_error naming the key or flag for
// a bad value (an unknown slurm-user, a bad metrics-address).
DaemonConfig resolve_config(const DaemonFlags& flags);

// Return the boot id in PROC/sys/kernel/random/boot_id, "" when unreadable.
std::string read_boot_id(const std::filesystem::path& proc_root);

}  // namespace jobcarbon::daemon
