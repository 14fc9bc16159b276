#include <jobcarbon/cli/run_command.hpp>

#include <algorithm>
#include <cstdlib>
#include <expected>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/carbon/equivalents.hpp>
#include <jobcarbon/carbon/footprint.hpp>
#include <jobcarbon/cli/agent_run.hpp>
#include <jobcarbon/cli/carbon_options.hpp>
#include <jobcarbon/cli/config_loading.hpp>
#include <jobcarbon/cli/metered_run.hpp>
#include <jobcarbon/cli/sensor_options.hpp>
#include <jobcarbon/ledger/store.hpp>
#include <jobcarbon/os/machine.hpp>
#include <jobcarbon/report/record_energy.hpp>
#include <jobcarbon/report/work_done.hpp>
#include <jobcarbon/sensors/gpu_selection.hpp>

namespace jobcarbon::cli {

namespace {

struct RunFlags {
  std::vector<std::string> command;
  std::string config;
  Settings settings;  // what the flags set, merged over the config files
  SensorOptions sensor;
  std::optional<std::string> json_path;
  std::vector<std::string> tags;
  std::optional<std::string> work;
  bool no_ledger = false;
  bool no_agent = false;
  std::optional<std::string> agent_socket;
  bool quiet = false;
  std::string live = "auto";
};

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::optional<std::string>(v) : std::nullopt;
}

std::string user_name() {
  if (const passwd* pw = ::getpwuid(::getuid())) return pw->pw_name;
  return std::to_string(::getuid());
}

std::map<std::string, std::string> parse_tags(const std::vector<std::string>& tags) {
  std::map<std::string, std::string> out;
  for (const auto& t : tags) {
    const auto eq = t.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw std::runtime_error(fmt::format("--tag '{}': expected KEY=VALUE", t));
    }
    out[t.substr(0, eq)] = t.substr(eq + 1);
  }
  return out;
}

ledger::Timestamp to_timestamp(os::WallTime t) {
  return std::chrono::floor<std::chrono::microseconds>(t);
}

// The sampling period when none is configured: counters need few reads (their delta is exact
// whatever the period), power-only channels need more to follow bursts (docs/measurement.md).
Duration default_interval(const sensors::Discovery& d) {
  for (const auto& p : d.probes) {
    if (!p.sensor) continue;
    for (const auto& c : p.sensor->channels()) {
      if (c.kind == sensors::ChannelKind::kPower) return std::chrono::milliseconds(100);
    }
  }
  return std::chrono::seconds(1);
}

// The command line as the site's store-command setting allows it in the ledger: full (default),
// name (the program's file name only) or none. The user's own report keeps it whole.
std::vector<std::string> stored_command(const std::vector<std::string>& command,
                                        const std::optional<std::string>& mode) {
  if (!mode || *mode == "full" || command.empty()) return command;
  if (*mode == "none") return {};
  const std::string name = std::filesystem::path(command.front()).filename().string();
  return {name.empty() ? command.front() : name};
}

ledger::JobRecord to_record(const report::RunReport& r, const std::string& json,
                            const std::map<std::string, std::string>& tags,
                            const std::vector<sensors::GpuInfo>& gpus,
                            const std::vector<std::string>& job_gpus, int machine_cpus,
                            const std::optional<std::string>& store_command) {
  using sensors::Domain;
  ledger::JobRecord rec;
  rec.cluster = "local";
  rec.job_id = r.job_id;
  rec.submit_time = to_timestamp(r.start);
  rec.node = r.host;
  rec.user = user_name();
  rec.account = r.account;
  rec.tags = tags;
  rec.start = to_timestamp(r.start);
  rec.end = to_timestamp(r.end);
  rec.exit_code = r.exit_code;
  rec.command = stored_command(r.command, store_command);
  rec.energy = report::to_record_energy(r.charged);
  rec.energy_charged = r.charged.total();
  rec.machine_energy = r.machine.total();
  rec.unallocated_energy = r.unallocated.total();
  rec.method = r.method;
  rec.gpu_count = static_cast<int>(job_gpus.size());
  rec.gpu_model = sensors::model_of(gpus, job_gpus);
  rec.intensity_kg_per_kwh = r.intensity.kg_per_kwh;
  rec.intensity_zone = r.intensity.zone;
  rec.intensity_dataset = r.intensity.dataset;
  rec.intensity_year = r.intensity.year;
  rec.pue = r.pue;
  rec.co2_kg = r.co2_kg;
  // Allocated CPUs are a batch system's notion; a run on a shared machine used, on average, its
  // CPU time over its duration. An exclusive run had the whole machine.
  const double seconds = to_seconds(r.duration);
  rec.cpus = r.exclusive ? static_cast<double>(machine_cpus)
                         : (seconds > 0 ? to_seconds(r.cpu_time) / seconds : 0.0);
  if (r.work) {
    rec.work_count = r.work->count;
    rec.work_unit = r.work->unit;
  }
  rec.report_json = json;
  return rec;
}

// A private directory for the file in which the command may state its work done
// (JOBCARBON_WORK_FILE); removed with what is in it when the run ends.
class WorkFile {
 public:
  WorkFile() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp == '/' ? tmp : "/tmp") + "/jobcarbon-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) dir_ = pattern;
  }
  WorkFile(const WorkFile&) = delete;
  WorkFile& operator=(const WorkFile&) = delete;
  ~WorkFile() {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // Return the path to give the command, "" when no directory could be made.
  std::string path() const { return dir_.empty() ? "" : (dir_ / "work").string(); }
  // Return what the command wrote there: nullopt when nothing, else the parsed work or why not.
  std::optional<std::expected<report::WorkDone, std::string>> read() const {
    if (dir_.empty()) return std::nullopt;
    std::ifstream in(dir_ / "work", std::ios::binary);
    if (!in) return std::nullopt;
    std::string text(4097, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > 4096) {
      return std::unexpected(std::string("JOBCARBON_WORK_FILE: more than 4096 bytes"));
    }
    auto w = report::parse_work(text);
    if (!w) return std::unexpected("JOBCARBON_WORK_FILE: " + w.error());
    return *w;
  }

 private:
  std::filesystem::path dir_;
};

int run(const RunFlags& flags) {
  const Settings config = load_settings(flags.config);
  const Settings settings = merge(config, flags.settings);
  const auto tags = parse_tags(flags.tags);
  std::optional<report::WorkDone> stated_work;
  if (flags.work) {
    auto w = report::parse_work(*flags.work);
    if (!w) throw std::runtime_error("--work: " + w.error());
    stated_work = *w;
  }
  CarbonChoice carbon_choice = choose_carbon(settings);
  const auto paths = sensor_paths(
      flags.sensor,
      SensorOptions{settings.powercap_root, settings.hwmon_root, settings.nvml_lib, std::nullopt});

  // Open the ledger before the command runs: a bad --ledger must fail before hours of work.
  std::unique_ptr<ledger::Store> store;
  if (!flags.no_ledger) {
    const auto where = ledger::resolve_ledger(flags.settings.ledger, config.ledger,
                                              ledger::LedgerEnvironment::from_process());
    if (!where) throw std::runtime_error(where.error());
    auto opened = ledger::open_store(*where);
    if (!opened) throw std::runtime_error(opened.error());
    store = std::move(*opened);
  }

  os::SystemClock clock;
  MeteredRunSetup setup;
  setup.command = flags.command;
  setup.discovery = sensors::discover_sensors(paths, estimator_cpu_power(paths.proc_root), clock);
  setup.proc_root = paths.proc_root;
  setup.exclusive = settings.exclusive.value_or(false);

  std::vector<std::string> selection_warnings;
  if (!setup.discovery.gpus.empty()) {
    auto sel = sensors::select_gpus(setup.discovery.gpus, env("CUDA_VISIBLE_DEVICES"),
                                    env("CUDA_DEVICE_ORDER"));
    if (!sel) throw std::runtime_error("CUDA_VISIBLE_DEVICES: " + sel.error());
    setup.job_gpus = sel->uuids;
    selection_warnings = sel->warnings;
  }
  if (settings.interval_s) {
    const double s = *settings.interval_s;
    if (!(s >= 0.01 && s <= 3600)) {
      throw std::runtime_error(fmt::format("--interval {}: must be between 0.01 and 3600 s", s));
    }
    setup.interval = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
  } else {
    setup.interval = default_interval(setup.discovery);
  }
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  if (flags.live == "always" || (flags.live == "auto" && tty)) setup.live = stderr;

  const std::vector<sensors::GpuInfo> all_gpus = setup.discovery.gpus;
  const std::vector<std::string> job_gpus =
      setup.exclusive ? [&] {
        std::vector<std::string> u;
        for (const auto& g : all_gpus) u.push_back(g.uuid);
        return u;
      }()
                      : setup.job_gpus;
  const int cpus = std::max(1, os::Machine(paths.proc_root).online_cpus().value_or(1));

  carbon::FootprintAccumulator footprint(*carbon_choice.source, carbon_choice.pue);
  std::string carbon_error;
  setup.carbon = [&](Microjoules e, os::WallTime a, os::WallTime b) {
    const double before = footprint.co2().value;
    if (auto ok = footprint.add({a, b, e}); !ok && carbon_error.empty()) carbon_error = ok.error();
    return footprint.co2().value - before;
  };

  // The command may state the work it did ("115305030 images") in this file; it wins over --work.
  WorkFile work_file;
  if (!work_file.path().empty()) ::setenv("JOBCARBON_WORK_FILE", work_file.path().c_str(), 1);

  const auto submit = clock.wall();
  const std::string job_id = fmt::format(
      "local-{}-{}",
      std::chrono::duration_cast<std::chrono::seconds>(submit.time_since_epoch()).count(),
      ::getpid());
  // One reader per node: when a node agent runs, it meters the run (docs/agent-design.md).
  std::optional<AgentRunOutcome> via_agent;
  std::string agent_note;
  if (!flags.no_agent) {
    AgentRunSetup as;
    as.socket = flags.agent_socket.value_or(
        settings.agent_socket.value_or(std::string(agent::kDefaultAgentSocket)));
    as.command = flags.command;
    as.key = agent::JobKey{
        "local", job_id,
        std::chrono::duration_cast<std::chrono::microseconds>(submit.time_since_epoch()).count(),
        "run"};
    as.user = user_name();
    as.uid = ::getuid();
    as.account = settings.account.value_or("");
    as.gpus = job_gpus;
    as.exclusive = setup.exclusive;
    as.tags = tags;
    as.live = setup.live;
    as.proc_root = paths.proc_root;
    auto outcome = agent_metered_run(as, clock);
    if (outcome.kind == AgentRunOutcome::Kind::kRan) {
      via_agent = std::move(outcome);
    } else if (outcome.kind == AgentRunOutcome::Kind::kRefused) {
      agent_note = outcome.note + "; measured by this process instead";
    }
  }
  MeteredRunResult result =
      via_agent ? std::move(via_agent->result) : metered_run(std::move(setup), clock);
  if (!result.started) {
    fmt::print(stderr, "{}\n", result.spawn_error);
    return result.exit_code;
  }

  report::RunReport& r = result.report;
  r.job_id = job_id;
  if (!agent_note.empty()) r.notes.push_back(agent_note);
  r.account = settings.account.value_or("");
  r.work = stated_work;
  if (auto stated = work_file.read()) {
    if (*stated) {
      r.work = **stated;
    } else {
      r.notes.push_back(stated->error() + " (ignored)");
    }
  }
  for (const auto& g : all_gpus) {
    if (std::find(job_gpus.begin(), job_gpus.end(), g.uuid) != job_gpus.end()) {
      r.gpus.push_back(fmt::format("{} ({})", g.name, g.uuid));
    }
  }
  if (!via_agent)
    r.scope =
        r.exclusive
            ? "exclusive (--exclusive): the whole machine is charged to this run"
            : fmt::format(
                  "shared machine: charged {} and a share of CPU package and DRAM energy "
                  "equal to the command's CPU time over the machine's capacity (mean {:.1f}% "
                  "of {} CPUs); the rest is shown as unallocated",
                  all_gpus.empty() ? std::string("no GPU (none found)")
                                   : fmt::format("{} of {} GPU{}", job_gpus.size(), all_gpus.size(),
                                                 all_gpus.size() == 1 ? "" : "s"),
                  r.cpu_share * 100, cpus);
  if (!via_agent) r.pue = carbon_choice.pue;
  r.facility_kwh = to_kwh(carbon::facility_energy(r.charged.total(), r.pue));
  const auto& first = footprint.first_intensity();
  const carbon::Intensity in =
      first ? *first : carbon_choice.source->at(r.start).value_or(carbon::Intensity{});
  if (!via_agent) r.intensity.kg_per_kwh = footprint.mean_kg_per_kwh().value_or(in.kg_per_kwh);
  if (!via_agent) {
    r.intensity.zone = in.zone;
    r.intensity.name = carbon_choice.zone_name;
    r.intensity.dataset = in.dataset;
    r.intensity.year = in.year;
    r.intensity.basis = in.basis;
    r.intensity.source = in.source;
    r.intensity.world_default = in.is_default_world;
  } else {
    r.intensity.zone = "mean over the run";
    r.intensity.name = "the node agent's configuration";
  }
  if (!carbon_error.empty()) r.notes.push_back("carbon intensity: " + carbon_error);
  if (via_agent) {
    // The agent charged the CO2 with its own configuration (intensity, PUE); the zone named
    // here is this command's configuration, which may differ.
    r.notes.push_back(
        "CO2, PUE and the mean intensity are the node agent's (its configuration decides them)");
  }
  if (!via_agent) {
    for (auto& n : carbon_choice.notes) r.notes.push_back(std::move(n));
  }
  for (auto& w : selection_warnings) r.notes.push_back("GPU selection: " + w);

  auto equivalents = carbon::EquivalentsTable::load_embedded();
  if (!equivalents) throw std::runtime_error("embedded equivalents table: " + equivalents.error());
  for (const auto& e : equivalents->compute(KgCo2{r.co2_kg}, r.facility_kwh)) {
    r.equivalents.push_back({e.key, e.name, e.value, e.factor_text,
                             e.year ? fmt::format("{} ({})", e.source, *e.year) : e.source});
  }

  const nlohmann::json json = report::to_json(r);
  const std::string json_text = json.dump(2);
  int status = result.exit_code;
  // The record and the report are written whatever the command's fate; a failure to write them
  // is reported, and the command's own status is kept for the caller (a scheduler, a script).
  if (store && via_agent) {
    // Never twice: the agent writes the record (or, for a sub-record, the parent job's).
    r.notes.push_back(via_agent->parent ? "not recorded as a charge: the energy is part of job " +
                                              via_agent->parent->job_id + "'s record"
                                        : "recorded by the node agent in its ledger, not in " +
                                              store->describe());
    store.reset();
  }
  if (store) {
    // The ledger's copy of the report holds the command only as store-command allows.
    nlohmann::json stored = json;
    stored["command"] = stored_command(r.command, settings.store_command);
    auto added = store->append(
        to_record(r, stored.dump(), tags, all_gpus, job_gpus, cpus, settings.store_command));
    if (!added) {
      fmt::print(stderr, "jobcarbon: error: ledger: {}\n", added.error());
      if (status == 0) status = 1;
    }
  }
  if (flags.json_path) {
    std::ofstream out(*flags.json_path);
    out << json_text << '\n';
    if (!out) {
      fmt::print(stderr, "jobcarbon: error: --json {}: cannot write the report\n",
                 *flags.json_path);
      if (status == 0) status = 1;
    }
  }
  if (!flags.quiet) fmt::print(stderr, "{}", report::render_text(r));
  return status;
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<RunFlags>();
  auto* cmd = app.add_subcommand("run", "Run a command and measure its energy and CO2");
  auto& s = flags->settings;
  cmd->add_option("--country", s.country, "Grid zone by ISO 3166 code (DE, DEU, ...)");
  cmd->add_option("--zone", s.zone, "Grid zone id of the intensity table (US-CAL-CISO, ...)");
  cmd->add_option("--dataset", s.dataset, "Intensity dataset (see `jobcarbon intensity`)");
  cmd->add_option("--intensity", s.intensity_kg_per_kwh, "Fixed carbon intensity, kg CO2/kWh");
  cmd->add_option("--intensity-series", s.intensity_series,
                  "CSV of timestamp,kg_per_kwh: an hourly intensity series");
  cmd->add_option("--pue", s.pue, "Power usage effectiveness of the data centre (default 1.0)");
  cmd->add_option("--interval", s.interval_s,
                  "Sampling period in seconds (default 1, or 0.1 with power-only sensors)");
  cmd->add_flag("--exclusive", s.exclusive, "Charge the whole machine to the command");
  cmd->add_option("--account", s.account, "Account (group) the run is charged to");
  cmd->add_option("--tag", flags->tags, "KEY=VALUE label stored with the record (repeatable)");
  cmd->add_option("--work", flags->work,
                  "Work done, 'COUNT UNIT' (e.g. '115305030 images'), for throughput per kWh; the "
                  "command may instead write it to the file $JOBCARBON_WORK_FILE");
  cmd->add_option("--ledger", s.ledger,
                  "Ledger path (default $XDG_DATA_HOME/jobcarbon/ledger.db or "
                  "~/.local/share/jobcarbon/ledger.db; env JOBCARBON_LEDGER)");
  cmd->add_flag("--no-ledger", flags->no_ledger, "Do not record the run in the ledger");
  cmd->add_flag("--no-agent", flags->no_agent,
                "Measure in this process even when a node agent (jobcarbond) runs");
  cmd->add_option("--agent-socket", flags->agent_socket,
                  "The node agent's socket (default: agent-socket of the configuration, else "
                  "/run/jobcarbon/agent.sock)");
  cmd->add_option("--json", flags->json_path, "Also write the report as JSON to FILE");
  cmd->add_flag("-q,--quiet", flags->quiet, "No report on stderr (JSON and ledger still written)");
  cmd->add_option("--live", flags->live, "Live status line: auto (on a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  cmd->add_option("--config", flags->config,
                  "Read this configuration file instead of the defaults");
  add_sensor_options(*cmd, flags->sensor);
  cmd->add_option("command", flags->command, "The command to run, after --")->required();
  cmd->callback([flags, &exit_code]() { exit_code = run(*flags); });
}

}  // namespace jobcarbon::cli
