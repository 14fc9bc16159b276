#include <jobcarbon/cli/agent_run.hpp>

#include <unistd.h>

#include <fmt/format.h>

#include <jobcarbon/agent/client.hpp>
#include <jobcarbon/os/child_process.hpp>
#include <jobcarbon/os/machine.hpp>
#include <jobcarbon/report/live_line.hpp>

namespace jobcarbon::cli {

namespace {

using sensors::Domain;

attribution::DomainEnergy to_domains(const agent::DomainsUj& d) {
  attribution::DomainEnergy e;
  e[Domain::kGpu] = d.gpu;
  e[Domain::kCpuPackage] = d.cpu;
  e[Domain::kDram] = d.dram;
  e[Domain::kNode] = d.node;
  e[Domain::kEstimatedCpu] = d.estimated_cpu;
  e[Domain::kEstimatedMemory] = d.estimated_memory;
  return e;
}

std::int64_t now_us(const os::Clock& clock) {
  return std::chrono::duration_cast<std::chrono::microseconds>(clock.wall().time_since_epoch())
      .count();
}

}  // namespace

AgentRunOutcome agent_metered_run(const AgentRunSetup& setup, const os::Clock& clock) {
  AgentRunOutcome out;
  agent::JobStart start;
  start.key = setup.key;
  start.user = setup.user;
  start.uid = setup.uid;
  start.pids = {static_cast<std::int64_t>(::getpid())};
  start.tags = setup.tags;
  if (setup.uid == 0) {
    start.account = setup.account;
    start.gpus = setup.gpus;
    start.exclusive = setup.exclusive;
  }
  const auto registered = agent::request(setup.socket, start, std::chrono::seconds(5));
  if (!registered) {
    out.kind = registered.error().no_agent ? AgentRunOutcome::Kind::kNoAgent
                                           : AgentRunOutcome::Kind::kRefused;
    out.note = "node agent: " + registered.error().message;
    return out;
  }
  if (const auto* e = std::get_if<agent::Error>(&*registered)) {
    out.kind = AgentRunOutcome::Kind::kRefused;
    out.note = fmt::format("the node agent at {} refused the run ({}: {})", setup.socket.string(),
                           e->code, e->message);
    return out;
  }
  out.kind = AgentRunOutcome::Kind::kRan;
  report::RunReport& r = out.result.report;
  if (auto s = os::become_subreaper(); !s) r.notes.push_back("not a subreaper: " + s.error());
  const auto mono_start = clock.monotonic();
  r.start = clock.wall();

  int exit_code = 0;
  auto child = os::ChildProcess::spawn(setup.command);
  if (!child) {
    exit_code = child.error().exit_code;
    out.result.spawn_error = child.error().message;
  } else {
    out.result.started = true;
    bool live_drawn = false;
    for (;;) {
      const auto ev = child->wait(std::chrono::seconds(1));
      if (ev.kind == os::WaitEvent::Kind::exited) break;
      if (setup.live == nullptr || ev.kind != os::WaitEvent::Kind::timeout) continue;
      const auto st = agent::request(setup.socket, agent::StatusRequest{}, std::chrono::seconds(1));
      const auto* s = st ? std::get_if<agent::StatusReply>(&*st) : nullptr;
      if (s == nullptr) continue;
      for (const auto& j : s->jobs) {
        if (j.key != setup.key) continue;
        report::LiveStatus ls;
        ls.elapsed = clock.monotonic() - mono_start;
        ls.energy_so_far = j.energy;
        ls.co2_kg_so_far = j.co2_kg;
        std::fprintf(setup.live, "\r%s\033[K", report::live_line(ls).c_str());
        std::fflush(setup.live);
        live_drawn = true;
      }
    }
    if (live_drawn) {
      std::fprintf(setup.live, "\r\033[K");
      std::fflush(setup.live);
    }
    exit_code = child->exit_status() ? child->exit_status()->code : 0;
  }
  out.result.exit_code = exit_code;
  r.exit_code = exit_code;
  r.command = setup.command;
  r.host = os::Machine(setup.proc_root).hostname();
  r.end = clock.wall();
  r.duration = clock.monotonic() - mono_start;
  r.exclusive = start.exclusive;

  const auto ended = agent::request(
      setup.socket,
      agent::JobEnd{setup.key, exit_code, std::max(now_us(clock), setup.key.submit_time_us)},
      std::chrono::seconds(10));
  const auto* rep = ended ? std::get_if<agent::JobReport>(&*ended) : nullptr;
  if (rep == nullptr) {
    const std::string why = !ended ? ended.error().message
                            : std::holds_alternative<agent::Error>(*ended)
                                ? std::get<agent::Error>(*ended).message
                                : "unexpected reply";
    r.notes.push_back(fmt::format(
        "the node agent did not report the run's energy ({}); the agent ends it when it finds the "
        "processes gone and records it in its ledger",
        why));
    r.scope = "measured by the node agent (jobcarbond); its report did not arrive";
    return out;
  }
  out.reported = true;
  out.parent = rep->parent;
  r.charged = to_domains(rep->charged);
  r.machine = to_domains(rep->machine);
  r.unallocated = to_domains(rep->unallocated);
  r.cpu_time = std::chrono::microseconds(rep->cpu_time_us);
  const int cpus = std::max(1, os::Machine(setup.proc_root).online_cpus().value_or(1));
  r.cpu_share =
      r.duration.count() > 0 ? to_seconds(r.cpu_time) / (to_seconds(r.duration) * cpus) : 0;
  r.co2_kg = rep->co2_kg;
  r.pue = rep->pue;
  r.intensity.kg_per_kwh = rep->kg_per_kwh;
  r.method = report::method_of(r.charged);
  for (std::size_t d = 0; d < r.domain_method.size(); ++d) {
    if (r.charged.by_domain[d].value > 0 || r.machine.by_domain[d].value > 0) {
      r.domain_method[d] = "measured by the node agent (jobcarbond)";
    }
  }
  if (rep->parent) {
    r.scope = fmt::format(
        "an experiment inside job {} (step {}), which the node agent meters: the run's share of "
        "that job's energy by CPU time; it is part of the job's charge, never charged again",
        rep->parent->job_id, rep->parent->step);
  } else {
    r.scope = fmt::format(
        "measured by the node agent (jobcarbond) at {}: {}", setup.socket.string(),
        start.exclusive ? "the whole machine is charged to this run"
                        : "the run's process tree is charged its share of CPU package and DRAM "
                          "energy by CPU time (and the GPUs only when root names them); the rest "
                          "is unallocated");
  }
  return out;
}

}  // namespace jobcarbon::cli
