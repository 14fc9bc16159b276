// jobcarbond: the node agent. Runs in the foreground (for systemd or any service manager), meters
// every sensor of the node, splits the energy among the jobs registered on its socket, serves
// /metrics, journals its state for crash safety and writes records to the ledger (spooling while
// the ledger is down). docs/agent-install.md, docs/agent-design.md.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <CLI/CLI.hpp>

#include <jobcarbon/agent/metrics.hpp>
#include <jobcarbon/carbon/footprint.hpp>
#include <jobcarbon/cli/carbon_options.hpp>
#include <jobcarbon/cli/sensor_options.hpp>
#include <jobcarbon/cli/settings.hpp>
#include <jobcarbon/daemon/agent_service.hpp>
#include <jobcarbon/daemon/daemon_config.hpp>
#include <jobcarbon/daemon/socket_server.hpp>
#include <jobcarbon/os/file.hpp>
#include <jobcarbon/os/machine.hpp>
#include <jobcarbon/sensors/registry.hpp>

namespace {

using namespace jobcarbon;
namespace fs = std::filesystem;

std::atomic<bool> g_stop{false};

void on_signal(int) {
  g_stop = true;
}

void log_line(const std::string& line) {
  std::fprintf(stderr, "jobcarbond: %s\n", line.c_str());
  std::fflush(stderr);
}

// The agent's own cost, for /metrics.
agent::ProcessMetrics self_usage() {
  agent::ProcessMetrics p;
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) == 0) {
    p.cpu_time = std::chrono::seconds(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 std::chrono::microseconds(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  }
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  if (statm >> size >> resident) {
    p.resident_memory_bytes =
        static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  }
  return p;
}

int run_agent(const daemon::DaemonConfig& cfg) {
  os::SystemClock clock;
  auto carbon_choice = cli::choose_carbon(cfg.settings);
  for (const auto& n : carbon_choice.notes) log_line("carbon: " + n);
  const auto paths = cli::sensor_paths(
      cli::SensorOptions{}, cli::SensorOptions{cfg.settings.powercap_root, cfg.settings.hwmon_root,
                                               cfg.settings.nvml_lib, cfg.settings.proc_root});
  auto discovery =
      sensors::discover_sensors(paths, cli::estimator_cpu_power(paths.proc_root), clock);
  for (const auto& p : discovery.probes) {
    if (!p.sensor) log_line(fmt::format("{} unavailable: {}", p.name, p.unavailable_reason));
    for (const auto& n : p.notes) log_line(fmt::format("{}: {}", p.name, n));
  }
  const auto gpus = discovery.gpus;
  energy::Meter meter(sensors::take_sensors(discovery.probes), clock);
  for (std::size_t c = 0; c < meter.channels().size(); ++c) {
    log_line(fmt::format("channel {} ({}, {})", meter.channels()[c].id, meter.channel_sensor()[c],
                         sensors::domain_name(meter.channels()[c].domain)));
  }
  const os::Machine machine(paths.proc_root);

  agent::EngineConfig ec;
  ec.node = cfg.node;
  ec.cluster = cfg.cluster;
  ec.online_cpus = std::max(1, machine.online_cpus().value_or(1));
  ec.gpus = gpus;

  agent::CarbonModel carbon;
  carbon.pue = carbon_choice.pue;
  const carbon::IntensitySource& source = *carbon_choice.source;
  const double pue = carbon_choice.pue;
  carbon.co2_kg = [&source, pue](Microjoules e, os::WallTime a, os::WallTime b) {
    carbon::FootprintAccumulator acc(source, pue);
    if (!acc.add({a, b, e})) return 0.0;
    return acc.co2().value;
  };
  {
    carbon::FootprintAccumulator probe(source, pue);
    const auto now = clock.wall();
    if (probe.add({now - std::chrono::seconds(1), now, Microjoules(1)}) &&
        probe.first_intensity()) {
      const auto& in = *probe.first_intensity();
      carbon.kg_per_kwh = in.kg_per_kwh;
      carbon.zone = in.zone;
      carbon.dataset = in.dataset;
      carbon.year = in.year;
    }
  }

  daemon::JobUsageReader usage(paths.proc_root, cfg.cgroup_root, cfg.node);
  agent::Engine engine(
      meter, clock, machine, ec, [&usage](const agent::JobStart& j) { return usage(j); }, carbon);

  daemon::ServiceConfig sc;
  sc.state_dir = cfg.state_dir;
  sc.proc_root = paths.proc_root;
  sc.cgroup_root = cfg.cgroup_root;
  sc.policy.slurm_uid = cfg.slurm_uid;
  sc.running_update_interval = cfg.running_update_interval;
  sc.journal_interval = cfg.journal_interval;
  const std::string ledger_url = cfg.ledger;
  sc.open_ledger = [ledger_url]() { return ledger::open_store(ledger_url); };
  sc.log = log_line;
  daemon::AgentService service(engine, usage, clock, sc);

  auto server = daemon::SocketServer::listen(cfg.socket);
  if (!server) {
    log_line(server.error());
    return 1;
  }
  service.start(cfg.boot_id);
  log_line(
      fmt::format("listening on {}; {} channel(s); counters every {} s, power every {} s; "
                  "ledger {}",
                  cfg.socket.string(), meter.channels().size(), to_seconds(cfg.counter_interval),
                  to_seconds(cfg.power_interval), cfg.ledger));

  httplib::Server http;
  std::thread http_thread;
  if (cfg.metrics_host) {
    http.Get("/metrics", [&service](const httplib::Request&, httplib::Response& res) {
      auto snap = service.snapshot();
      snap.process = self_usage();
      res.set_content(agent::render_metrics(snap), std::string(agent::kMetricsContentType));
    });
    http.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("jobcarbond: see /metrics\n", "text/plain");
    });
    // Bounded request sizes and timeouts: a client that sends garbage or never finishes costs a
    // worker thread for at most a few seconds and never touches sampling.
    http.set_payload_max_length(64 * 1024);
    // Short timeouts: each open connection holds a worker until it finishes or times out, so a
    // few clients that send half a request (slowloris) delay scrapes by about these seconds
    // (tests/e2e/agent_metrics_test.sh). Prometheus sends its request at once.
    http.set_read_timeout(1, 0);
    http.set_write_timeout(2, 0);
    http.set_keep_alive_timeout(2);
    // The accept loop wakes this often only to notice stop(): 10 ms (the library's default) is
    // 100 wake-ups a second for nothing (docs/benchmarks.md, "Agent").
    http.set_idle_interval(1, 0);
    // httplib writes headers and body in two sends: with Nagle and the client's delayed ACK a
    // keep-alive scrape (Prometheus's) waited ~40 ms for nothing.
    http.set_tcp_nodelay(true);
    // Prometheus scrapes one request at a time; a few workers serve it and the odd curl. Each
    // idle worker is a thread stack of RSS (the library's default is 8 or more).
    http.new_task_queue = [] { return new httplib::ThreadPool(8); };
    if (!http.bind_to_port(*cfg.metrics_host, cfg.metrics_port)) {
      log_line(fmt::format("metrics: cannot listen on {}:{}", *cfg.metrics_host, cfg.metrics_port));
      return 1;
    }
    log_line(fmt::format("serving /metrics on {}:{}", *cfg.metrics_host, cfg.metrics_port));
    http_thread = std::thread([&http] { http.listen_after_bind(); });
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  const auto handler = [&service](const agent::PeerCred& p, const agent::Frame& f) {
    return service.handle(p, f);
  };
  auto next_counter = clock.monotonic() + cfg.counter_interval;
  // Without power-only sensors there is nothing to read between boundaries: no wake-ups for it.
  bool any_power_only = false;
  for (std::size_t s = 0; s < meter.sensor_count(); ++s) any_power_only |= meter.power_only(s);
  const Duration power_interval = any_power_only ? cfg.power_interval : cfg.counter_interval;
  auto next_power = clock.monotonic() + power_interval;
  while (!g_stop) {
    const auto now = clock.monotonic();
    const auto due = std::min(next_counter, next_power);
    (*server)->poll_once(std::max(Duration(0), Duration(due - now)), handler);
    const auto after = clock.monotonic();
    if (after >= next_counter) {
      service.counter_tick();
      next_counter += cfg.counter_interval;
      if (next_counter < after) next_counter = after + cfg.counter_interval;
      next_power = after + power_interval;
    } else if (after >= next_power) {
      service.power_tick();
      next_power += power_interval;
      if (next_power < after) next_power = after + power_interval;
    }
  }
  log_line("stopping: the running jobs stay in the journal and continue at the next start");
  service.counter_tick();
  if (cfg.metrics_host) {
    http.stop();
    http_thread.join();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jobcarbond: the jobcarbon node agent (runs in the foreground)"};
  daemon::DaemonFlags flags;
  app.add_option("--config", flags.config,
                 "Configuration file (default /etc/jobcarbon/config.toml)");
  app.add_option("--socket", flags.socket, "UNIX socket to listen on (agent-socket)");
  app.add_option("--state-dir", flags.state_dir, "Journal and spool directory (state-dir)");
  app.add_option("--metrics-address", flags.metrics_address, "HOST:PORT for /metrics, or none");
  app.add_option("--ledger", flags.ledger, "Ledger path or URL (ledger)");
  app.set_version_flag("--version", std::string("jobcarbond ") + JOBCARBON_VERSION);
  CLI11_PARSE(app, argc, argv);
  try {
    const auto cfg = daemon::resolve_config(flags);
    return run_agent(cfg);
  } catch (const std::exception& e) {
    log_line(e.what());
    return 2;
  }
}
