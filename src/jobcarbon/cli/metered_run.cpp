#include <jobcarbon/cli/metered_run.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <jobcarbon/attribution/attributor.hpp>
#include <jobcarbon/os/child_process.hpp>
#include <jobcarbon/os/machine.hpp>
#include <jobcarbon/os/process_tree.hpp>
#include <jobcarbon/report/live_line.hpp>

namespace jobcarbon::cli {

using sensors::ChannelKind;
using sensors::Domain;

namespace {

// How a channel's energy was obtained, in the words of the report.
std::string method_of_channel(const sensors::Channel& c, const std::string& sensor) {
  if (sensor == "estimator") return "estimate";
  return c.kind == ChannelKind::kEnergyCounter ? "hardware energy counter" : "sampled power";
}

// One sentence per domain: how its energy was obtained and from which sensors.
void describe_domains(const energy::Meter& meter, report::RunReport& r) {
  const auto& chans = meter.channels();
  for (std::size_t d = 0; d < r.domain_method.size(); ++d) {
    std::vector<std::string> methods;
    for (std::size_t c = 0; c < chans.size(); ++c) {
      if (!chans[c].additive || static_cast<std::size_t>(chans[c].domain) != d) continue;
      auto m = fmt::format("{} ({})", method_of_channel(chans[c], meter.channel_sensor()[c]),
                           meter.channel_sensor()[c]);
      if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
    }
    std::string text;
    for (const auto& m : methods) text += (text.empty() ? "" : ", ") + m;
    const auto dom = static_cast<Domain>(d);
    if (!text.empty() && !r.exclusive && dom != Domain::kGpu && dom != Domain::kOther) {
      text += dom == Domain::kEstimatedMemory ? ", share of memory in use" : ", share by CPU time";
    }
    if (dom == Domain::kNode && !text.empty()) text = "node meter minus its components; " + text;
    r.domain_method[d] = text;
  }
}

}  // namespace

MeteredRunResult metered_run(MeteredRunSetup setup, const os::Clock& clock) {
  MeteredRunResult result;
  report::RunReport& r = result.report;

  // Orphans of the command (daemons, workers left behind) stay ours, so their CPU time is charged.
  if (auto s = os::become_subreaper(); !s) r.notes.push_back("not a subreaper: " + s.error());

  for (const auto& p : setup.discovery.probes) {
    if (!p.sensor) {
      r.notes.push_back(fmt::format("{} unavailable: {}", p.name, p.unavailable_reason));
    }
    for (const auto& n : p.notes) r.notes.push_back(fmt::format("{}: {}", p.name, n));
  }
  energy::Meter meter(sensors::take_sensors(setup.discovery.probes), clock);
  const attribution::Attributor attributor(meter.channels());
  const os::Machine machine(setup.proc_root);
  os::ProcessTree tree(::getpid(), setup.proc_root);
  const int cpus = std::max(1, machine.online_cpus().value_or(1));

  meter.start();
  // Before the command starts jobcarbon has no descendants, so the tree's CPU time is what its
  // reaped children used (none): no need to scan /proc for it (a scan reads every process).
  Duration last_cpu{0};
  auto last_busy = machine.cpu_times();
  const os::WallTime wall_start = meter.wall_started_at();
  const os::MonoTime mono_start = meter.started_at();

  auto child = os::ChildProcess::spawn(setup.command);
  if (!child) {
    result.exit_code = child.error().exit_code;
    result.spawn_error = child.error().message;
    return result;
  }
  result.started = true;

  std::vector<attribution::JobUsage> jobs(1);
  jobs[0].gpus = setup.job_gpus;
  jobs[0].exclusive = setup.exclusive;
  attribution::Attribution split;
  Duration job_cpu_total{0};
  Duration capacity_total{0};
  double co2_kg = 0;
  os::MonoTime last_live{};
  bool live_drawn = false;

  // The meter samples every interval (power-only channels need it); attribution — the process
  // tree scan, /proc/stat, the split — runs at most once per attribution period on the sum of
  // the meter's intervals since the last one: CPU shares need no 10 Hz, and the scan is most of
  // the cost of an interval (docs/benchmarks.md).
  const Duration attribution_period = std::max(setup.interval, Duration(std::chrono::seconds(1)));
  energy::Interval pending;
  bool have_pending = false;
  auto meter_sample = [&]() {
    const auto& iv = meter.sample();
    if (!have_pending) {
      pending = iv;
      have_pending = true;
      return;
    }
    energy::merge_into(pending, iv);
  };

  auto take_sample = [&]() {
    if (!have_pending) return;
    have_pending = false;
    const auto& iv = pending;
    const auto usage = tree.sample();
    const Duration cpu_now = usage ? usage->cpu_time : last_cpu;
    jobs[0].cpu_time = std::max(Duration(0), cpu_now - last_cpu);
    jobs[0].rss_bytes = usage ? usage->rss_bytes : 0;
    last_cpu = cpu_now;

    attribution::MachineUsage mu;
    mu.cpu_capacity = iv.length() * cpus;
    const auto busy_now = machine.cpu_times();
    if (busy_now && last_busy) mu.cpu_busy = busy_now->busy - last_busy->busy;
    if (busy_now) last_busy = busy_now;
    if (const auto mem = machine.memory())
      mu.mem_used_bytes = mem->total_bytes - mem->available_bytes;

    attributor.attribute(iv, mu, jobs, split);
    r.charged += split.jobs[0];
    r.machine += split.machine;
    r.unallocated += split.unallocated;
    job_cpu_total += jobs[0].cpu_time;
    capacity_total += mu.cpu_capacity;
    const Microjoules e = split.jobs[0].total();
    if (iv.length().count() > 0) r.peak_power = std::max(r.peak_power, power_of(e, iv.length()));
    if (setup.carbon) co2_kg += setup.carbon(e, iv.wall_start, iv.wall_end);

    if (setup.live && iv.end - last_live >= std::chrono::milliseconds(900)) {
      report::LiveStatus s;
      s.elapsed = iv.end - mono_start;
      s.last_interval = split.jobs[0];
      s.last_interval_length = iv.length();
      s.energy_so_far = r.charged.total();
      s.co2_kg_so_far = co2_kg;
      // \r and erase-to-end-of-line redraw the one line in place.
      std::fprintf(setup.live, "\r%s\033[K", report::live_line(s).c_str());
      std::fflush(setup.live);
      last_live = iv.end;
      live_drawn = true;
    }
  };

  os::MonoTime next = clock.monotonic() + setup.interval;
  for (;;) {
    const auto now = clock.monotonic();
    const auto ev = child->wait(std::max(Duration(0), Duration(next - now)));
    if (ev.kind == os::WaitEvent::Kind::exited) break;
    if (clock.monotonic() >= next) {
      meter_sample();
      if (pending.end - pending.start >= attribution_period) take_sample();
      next += setup.interval;
      // After a long stall (suspended laptop), resume the rhythm instead of catching up.
      if (next < clock.monotonic()) next = clock.monotonic() + setup.interval;
    }
  }
  meter_sample();  // the last partial interval, up to the command's end
  take_sample();
  if (live_drawn) {
    std::fprintf(setup.live, "\r\033[K");
    std::fflush(setup.live);
  }
  if (child->descendants_alive()) {
    r.notes.push_back(
        "processes started by the command are still running after it exited; their CPU time "
        "after that moment is not charged");
  }

  result.exit_code = child->exit_status() ? child->exit_status()->code : 0;
  r.exit_code = result.exit_code;
  r.command = setup.command;
  r.host = machine.hostname();
  r.start = wall_start;
  r.end = clock.wall();
  r.duration = clock.monotonic() - mono_start;
  r.exclusive = setup.exclusive;
  r.cpu_share = capacity_total.count() > 0 ? static_cast<double>(job_cpu_total.count()) /
                                                 static_cast<double>(capacity_total.count())
                                           : 0;
  r.cpu_time = job_cpu_total;
  r.co2_kg = co2_kg;
  describe_domains(meter, r);
  // The method says what produced the job's number; a run too short to be charged anything is
  // described by what the machine used, or else by the sources that were there to measure.
  attribution::DomainEnergy basis = r.charged;
  if (basis.total().value == 0) basis = r.machine;
  if (basis.total().value == 0) {
    for (std::size_t d = 0; d < r.domain_method.size(); ++d) {
      if (!r.domain_method[d].empty()) basis.by_domain[d] = Microjoules(1);
    }
  }
  r.method = report::method_of(basis);

  const auto& chans = meter.channels();
  for (std::size_t c = 0; c < chans.size(); ++c) {
    const auto& st = meter.states()[c];
    report::ChannelSummary s;
    s.id = chans[c].id;
    s.label = chans[c].label;
    s.sensor = meter.channel_sensor()[c];
    s.domain = std::string(sensors::domain_name(chans[c].domain));
    s.method = method_of_channel(chans[c], s.sensor);
    s.additive = chans[c].additive;
    s.energy = st.total;
    s.average_power = power_of(st.total, st.covered);
    s.peak_power = st.peak_power;
    s.coverage =
        r.duration.count() > 0 ? std::min(1.0, to_seconds(st.covered) / to_seconds(r.duration)) : 0;
    s.errors = st.errors;
    s.wraps = st.wraps;
    s.last_error = st.last_error;
    r.channels.push_back(std::move(s));
  }
  return result;
}

}  // namespace jobcarbon::cli
