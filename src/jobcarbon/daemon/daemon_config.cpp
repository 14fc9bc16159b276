#include <jobcarbon/daemon/daemon_config.hpp>

#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include <jobcarbon/agent/metrics.hpp>
#include <jobcarbon/agent/protocol.hpp>
#include <jobcarbon/os/machine.hpp>

namespace jobcarbon::daemon {

namespace fs = std::filesystem;

std::expected<std::optional<ListenAddress>, std::string> parse_listen_address(
    std::string_view text) {
  if (text == "none") return std::optional<ListenAddress>{};
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return std::unexpected(fmt::format("'{}': expected HOST:PORT or none", text));
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.starts_with('[')) {
    if (!host.ends_with(']') || host.size() < 3) {
      return std::unexpected(
          fmt::format("'{}': an IPv6 address goes in brackets, [::1]:PORT", text));
    }
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return std::unexpected(fmt::format("'{}': put an IPv6 address in brackets, [::1]:PORT", text));
  }
  int port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535) {
    return std::unexpected(fmt::format("'{}': the port must be a number from 1 to 65535", text));
  }
  for (const char c : host) {
    if (c == '\0' || c == '/' || c == ' ') {
      return std::unexpected(fmt::format("'{}': not a host name or address", text));
    }
  }
  return std::optional<ListenAddress>{
      ListenAddress{host.empty() ? "0.0.0.0" : std::string(host), port}};
}

std::string read_boot_id(const fs::path& proc_root) {
  std::ifstream in(proc_root / "sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

DaemonConfig resolve_config(const DaemonFlags& flags) {
  const std::vector<fs::path> defaults{"/etc/jobcarbon/config.toml"};
  std::optional<fs::path> explicit_file;
  if (flags.config) explicit_file = *flags.config;
  cli::Settings s = cli::load_configured_settings(explicit_file, defaults);
  DaemonConfig c;
  c.socket =
      flags.socket.value_or(s.agent_socket.value_or(std::string(agent::kDefaultAgentSocket)));
  c.state_dir = flags.state_dir.value_or(s.state_dir.value_or(std::string(kDefaultStateDir)));
  c.cgroup_root = s.cgroup_root.value_or("/sys/fs/cgroup");
  const std::string address = flags.metrics_address.value_or(
      s.metrics_address.value_or(fmt::format("0.0.0.0:{}", agent::kDefaultMetricsPort)));
  const auto listen = parse_listen_address(address);
  if (!listen) {
    throw std::runtime_error(
        fmt::format("{}metrics-address: {}", flags.metrics_address ? "--" : "", listen.error()));
  }
  if (*listen) {
    c.metrics_host = (*listen)->host;
    c.metrics_port = (*listen)->port;
  }
  const auto secs = [](double v) {
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(v));
  };
  if (s.counter_interval_s) c.counter_interval = secs(*s.counter_interval_s);
  if (s.power_interval_s) c.power_interval = secs(*s.power_interval_s);
  if (s.running_update_interval_s) c.running_update_interval = secs(*s.running_update_interval_s);
  if (s.journal_interval_s) c.journal_interval = secs(*s.journal_interval_s);
  c.cluster = s.cluster.value_or("local");
  const fs::path proc_root = s.proc_root.value_or("/proc");
  c.node = s.node_name.value_or(os::Machine(proc_root).hostname());
  if (c.node.empty())
    throw std::runtime_error("node-name: the host name is unknown; set node-name");
  if (s.slurm_user) {
    const passwd* pw = ::getpwnam(s.slurm_user->c_str());
    if (pw == nullptr) {
      throw std::runtime_error(fmt::format("slurm-user: no user '{}' on this node", *s.slurm_user));
    }
    if (pw->pw_uid != 0) c.slurm_uid = pw->pw_uid;
  }
  c.ledger = flags.ledger.value_or(s.ledger.value_or((c.state_dir / "ledger.db").string()));
  c.boot_id = read_boot_id(proc_root);
  c.settings = std::move(s);
  return c;
}

}  // namespace jobcarbon::daemon
