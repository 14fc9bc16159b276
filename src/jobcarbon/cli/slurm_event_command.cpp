#include <jobcarbon/cli/slurm_event_command.hpp>

#include <charconv>
#include <cstdlib>
#include <expected>

#include <fmt/format.h>

#include <pwd.h>

#include <jobcarbon/agent/cgroup_usage.hpp>
#include <jobcarbon/agent/client.hpp>
#include <jobcarbon/carbon/equivalents.hpp>
#include <jobcarbon/cli/config_loading.hpp>
#include <jobcarbon/ledger/budget_check.hpp>
#include <jobcarbon/ledger/store.hpp>
#include <jobcarbon/os/user_file.hpp>
#include <jobcarbon/policy/budget_limit.hpp>

namespace jobcarbon::cli {

namespace {

struct EventFlags {
  std::string event;  // start | end | step-start | step-end
  // Seconds since the epoch (scontrol's SubmitTime); for steps, by default that of the job's
  // registration on this node.
  std::optional<double> submit_time;
  std::optional<std::string> socket;
  std::string config;
  bool exclusive = false;
  std::optional<std::string> notify_file;  // the job's output file: the end-of-job lines go there
  std::string step;                        // a step's name: "batch", "0", "1", ...
  std::int64_t pid = 0;                    // the step's slurmstepd
  std::int64_t task_pid = 0;               // one of its tasks (its cgroup is the step's)
  std::int64_t exit_code = 0;              // the step's exit code
};

// Agent requests from a step's hooks are bounded: slurmstepd waits for them.
constexpr auto kStepTimeout = std::chrono::seconds(2);

std::string env_or(const char* name, std::string fallback = "") {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::optional<std::int64_t> env_int(const char* name) {
  const std::string v = env_or(name);
  std::int64_t out = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
  return out;
}

// Return the node-level GPU indices in SLURM_JOB_GPUS ("0,2"), or an error naming the bad item.
// The agent maps them to UUIDs (agent::JobStart::gpu_indices).
std::expected<std::vector<std::int64_t>, std::string> gpu_indices(const std::string& list) {
  std::vector<std::int64_t> out;
  std::size_t start = 0;
  while (!list.empty() && start <= list.size()) {
    const auto comma = list.find(',', start);
    const std::string item =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::int64_t index = -1;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), index);
    if (ec != std::errc() || end != item.data() + item.size() || index < 0) {
      return std::unexpected(
          fmt::format("SLURM_JOB_GPUS '{}': '{}' is not a GPU index", list, item));
    }
    out.push_back(index);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Now, µs since the Unix epoch, for job_end's end_time_us (never before the key's submit time).
std::int64_t end_time_us(const agent::JobKey& key) {
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return std::max(now, key.submit_time_us);
}

std::string socket_of(const EventFlags& f, const Settings& config) {
  return f.socket.value_or(config.agent_socket.value_or(std::string(agent::kDefaultAgentSocket)));
}

// Return the registration of KEY from Slurm's environment: the job's user, uid, account and the
// GPUs in GPU_LIST (SLURM_JOB_GPUS for a job, SLURM_STEP_GPUS for a step). Throws for a bad list.
agent::JobStart start_from_environment(const agent::JobKey& key, const std::string& gpu_list) {
  agent::JobStart s;
  s.key = key;
  s.user = env_or("SLURM_JOB_USER", "unknown");
  s.uid = env_int("SLURM_JOB_UID").value_or(0);
  s.account = env_or("SLURM_JOB_ACCOUNT");
  auto gpus = gpu_indices(gpu_list);
  if (!gpus) throw std::runtime_error(gpus.error());
  s.gpu_indices = *gpus;
  return s;
}

// Return why REPLY is not what was asked for (no agent, a refusal), or nullopt when it is.
std::optional<std::string> failure_of(
    const std::expected<agent::Message, agent::ClientError>& reply) {
  if (!reply) return reply.error().message;
  if (const auto* e = std::get_if<agent::Error>(&*reply)) {
    return fmt::format("the agent refused: {} ({})", e->message, e->code);
  }
  return std::nullopt;
}

// Return the standing of the budget that covers ACCOUNT now — its own, else the nearest parent's —
// as one sentence: "Account vision has used 812 kg of its 1200 kg CO2 budget for 2026 (68%,
// running jobs included)." nullopt when the ledger cannot say (the line is then left out).
std::optional<std::string> budget_line(ledger::Store& store, const std::string& account,
                                       const std::string& user) {
  const auto now = std::chrono::system_clock::now();
  const auto year = ledger::budget_year_now(store, now);
  const auto chain = store.account_chain(account);
  if (!year || !chain) return std::nullopt;
  // A budget of the job's user within the account speaks first: it is the nearer limit.
  for (const auto& level : *chain) {
    const auto rows = ledger::budget_status(store, level, *year, now);
    if (!rows) return std::nullopt;
    // Budgets are listed account row ("" user) first; the user's own row must be found first.
    std::vector<const ledger::BudgetStatus*> order;
    for (const auto& st : *rows) {
      if (level == account && !user.empty() && st.budget.user == user) order.push_back(&st);
    }
    for (const auto& st : *rows) {
      if (st.budget.user.empty()) order.push_back(&st);
    }
    for (const auto* row : order) {
      const auto& st = *row;
      const std::string who =
          !st.budget.user.empty() ? fmt::format("User {} in account {}", user, level)
          : level == account      ? fmt::format("Account {}", level)
                                  : fmt::format("Account {} (which covers {})", level, account);
      const std::string percent =
          st.percent ? fmt::format("{:.0f}%, ", *st.percent) : std::string();
      if (st.budget.limit_energy) {
        return fmt::format(
            "{} has used {} of its {} energy budget for {} ({}running jobs included).", who,
            policy::format_energy_limit(
                Microjoules(st.used.energy.value + st.running.energy.value)),
            policy::format_energy_limit(*st.budget.limit_energy), *year, percent);
      }
      return fmt::format("{} has used {} of its {} CO2 budget for {} ({}running jobs included).",
                         who, policy::display_kg(KgCo2{st.used.co2.value + st.running.co2.value}),
                         policy::display_kg(st.budget.limit_kg.value_or(KgCo2{0})), *year, percent);
    }
  }
  return fmt::format("Account {} has no CO2 budget for {}.", account, *year);
}

// Return the lines a user reads at the end of the job's output: energy, CO2 with equivalents, and
// the account's budget standing (when the ledger can be read from this node).
std::string end_of_job_lines(const agent::JobKey& key, const agent::JobReport& r,
                             const std::string& account, const std::string& user,
                             const Settings& config) {
  const double kwh = static_cast<double>(r.charged.total().value) / 3.6e12;
  std::string parts;
  for (const auto& [name, e] :
       {std::pair{"GPU", r.charged.gpu}, std::pair{"CPU", r.charged.cpu},
        std::pair{"DRAM", r.charged.dram}, std::pair{"node", r.charged.node},
        std::pair{"estimated CPU", r.charged.estimated_cpu},
        std::pair{"estimated memory", r.charged.estimated_memory}}) {
    if (e.value > 0) {
      parts += fmt::format("{}{} {:.4g}", parts.empty() ? "" : ", ", name,
                           static_cast<double>(e.value) / 3.6e12);
    }
  }
  std::string text = fmt::format(
      "jobcarbon: job {} on {}: {:.4g} kWh{}, {:.4g} kg CO2 (PUE {:.2f}, {:.3f} kg CO2/kWh)\n",
      key.job_id, env_or("SLURMD_NODENAME", "this node"), kwh,
      parts.empty() ? "" : " (" + parts + ")", r.co2_kg, r.pue, r.kg_per_kwh);
  if (auto table = carbon::EquivalentsTable::load_embedded()) {
    std::string eq;
    for (const auto& e : table->compute(KgCo2{r.co2_kg}, kwh * r.pue)) {
      eq += fmt::format("{}{:.3g} {}", eq.empty() ? "" : "; ", e.value, e.name);
    }
    if (!eq.empty()) text += "jobcarbon: that is about " + eq + "\n";
  }
  const auto url = ledger::resolve_ledger(std::nullopt, config.ledger,
                                          ledger::LedgerEnvironment::from_process());
  auto store = url ? ledger::open_store(*url, ledger::OpenMode::kReadOnly)
                   : std::expected<std::unique_ptr<ledger::Store>, std::string>(
                         std::unexpected(url.error()));
  if (store && !account.empty()) {
    if (auto line = budget_line(**store, account, user))
      text += "jobcarbon: budget: " + *line + "\n";
  }
  text += fmt::format("jobcarbon: details: jobcarbon show {}\n", key.job_id);
  return text;
}

void send(const EventFlags& f) {
  const Settings config = load_settings(f.config);
  const std::string socket = socket_of(f, config);
  agent::JobKey key;
  key.cluster = env_or("SLURM_CLUSTER_NAME", config.cluster.value_or("local"));
  key.job_id = env_or("SLURM_JOB_ID");
  if (!f.submit_time) throw std::runtime_error("--submit-time is required for " + f.event);
  key.submit_time_us = static_cast<std::int64_t>(*f.submit_time * 1e6);
  // One record per node for the job's allocation there (Prolog/Epilog run once per job and node).
  key.step = "job";
  if (key.job_id.empty()) {
    fmt::print(stderr, "jobcarbon slurm-event: SLURM_JOB_ID is not set; nothing sent\n");
    return;
  }
  agent::Message message;
  if (f.event == "start") {
    agent::JobStart s = start_from_environment(key, env_or("SLURM_JOB_GPUS"));
    s.exclusive = f.exclusive;
    message = s;
  } else {
    message = agent::JobEnd{key, env_int("SLURM_JOB_EXIT_CODE").value_or(0), end_time_us(key)};
  }
  const auto reply = agent::request(socket, message, std::chrono::seconds(10));
  if (reply && f.notify_file && !f.notify_file->empty()) {
    if (const auto* r = std::get_if<agent::JobReport>(&*reply)) {
      const auto uid = static_cast<uid_t>(env_int("SLURM_JOB_UID").value_or(65534));
      gid_t gid = static_cast<gid_t>(env_int("SLURM_JOB_GID").value_or(65534));
      if (!env_int("SLURM_JOB_GID")) {
        if (const passwd* pw = ::getpwuid(uid)) gid = pw->pw_gid;
      }
      const auto lines =
          end_of_job_lines(key, *r, env_or("SLURM_JOB_ACCOUNT"), env_or("SLURM_JOB_USER"), config);
      if (auto ok = os::append_as_user(*f.notify_file, uid, gid, lines); !ok) {
        fmt::print(stderr, "jobcarbon slurm-event end job {}: {}\n", key.job_id, ok.error());
      }
    }
  }
  if (const auto why = failure_of(reply)) {
    fmt::print(stderr, "jobcarbon slurm-event {} job {}: {}\n", f.event, key.job_id, *why);
  }
}

// Return the key under which the agent knows KEY's job on this node: that of its registration with
// KEY's step, else of its Prolog's registration (step "job") — its cluster and submit time, so that
// the plugin need not ask slurmctld at every step. KEY's cluster (from the job's environment) is
// preferred; a job id registered under one cluster only is that job whatever the environment says.
std::expected<agent::JobKey, std::string> registered_key(const std::string& socket,
                                                         const agent::JobKey& key) {
  const auto reply = agent::request(socket, agent::StatusRequest{}, kStepTimeout);
  if (!reply) return std::unexpected(reply.error().message);
  const auto* status = std::get_if<agent::StatusReply>(&*reply);
  if (status == nullptr) return std::unexpected("the agent did not answer the status request");
  for (const std::string_view step : {std::string_view(key.step), std::string_view("job")}) {
    std::vector<agent::JobKey> found;
    for (const auto& j : status->jobs) {
      if (j.key.job_id == key.job_id && j.key.step == step) found.push_back(j.key);
    }
    for (const auto& k : found) {
      if (k.cluster == key.cluster)
        return agent::JobKey{k.cluster, k.job_id, k.submit_time_us, key.step};
    }
    if (found.size() == 1) {
      return agent::JobKey{found[0].cluster, found[0].job_id, found[0].submit_time_us, key.step};
    }
  }
  return std::unexpected("the job is not registered on this node (is the Prolog installed?)");
}

// Return the step's key: the job's identity from Slurm's environment and the step's name, with the
// submit time given, or else the cluster and submit time the agent knows the job by.
std::expected<agent::JobKey, std::string> step_key(const EventFlags& f, const Settings& config,
                                                   const std::string& socket) {
  agent::JobKey key;
  key.cluster = env_or("SLURM_CLUSTER_NAME", config.cluster.value_or("local"));
  key.job_id = env_or("SLURM_JOB_ID");
  key.step = f.step;
  if (key.job_id.empty()) return std::unexpected("SLURM_JOB_ID is not set");
  if (f.submit_time) {
    key.submit_time_us = static_cast<std::int64_t>(*f.submit_time * 1e6);
    return key;
  }
  return registered_key(socket, key);
}

// Return the line a user reads on srun's stderr when a step ends on a node.
std::string step_line(const agent::JobReport& r) {
  const double wh = static_cast<double>(r.charged.total().value) / 3.6e9;
  const std::string energy =
      wh >= 1000 ? fmt::format("{:.4g} kWh", wh / 1000) : fmt::format("{:.4g} Wh", wh);
  const std::string whose =
      r.parent ? fmt::format("its share of job {}'s record", r.key.job_id) : "its own record";
  return fmt::format("jobcarbon: step {}.{} on {}: {}, {} CO2 ({}; jobcarbon show {})\n",
                     r.key.job_id, r.key.step, env_or("SLURMD_NODENAME", "this node"), energy,
                     policy::display_kg(KgCo2{r.co2_kg}), whose, r.key.job_id);
}

void step_start(const EventFlags& f) {
  const Settings config = load_settings(f.config);
  const std::string socket = socket_of(f, config);
  const auto key = step_key(f, config, socket);
  if (!key) throw std::runtime_error(key.error());
  // The step's GPUs (the batch step has the job's).
  agent::JobStart s =
      start_from_environment(*key, env_or("SLURM_STEP_GPUS", env_or("SLURM_JOB_GPUS")));
  // By the step's cgroup when Slurm made one (it holds the step's tasks and nothing else, so the
  // steps' CPU times add up to the job's); else by slurmstepd's process tree.
  if (f.task_pid > 0) {
    if (const auto cg = agent::cgroup_of_pid("/proc", static_cast<pid_t>(f.task_pid))) {
      s.cgroup = slurm_step_cgroup(*cg, key->job_id, key->step).value_or("");
    }
  }
  if (s.cgroup.empty()) {
    if (f.pid <= 0) throw std::runtime_error("the step has no cgroup and no --pid was given");
    s.pids = {f.pid};
  }
  if (const auto why = failure_of(agent::request(socket, s, kStepTimeout))) {
    throw std::runtime_error(*why);
  }
}

void step_end(const EventFlags& f) {
  const Settings config = load_settings(f.config);
  const std::string socket = socket_of(f, config);
  const auto key = step_key(f, config, socket);
  if (!key) throw std::runtime_error(key.error());
  const auto reply =
      agent::request(socket, agent::JobEnd{*key, f.exit_code, end_time_us(*key)}, kStepTimeout);
  if (const auto why = failure_of(reply)) throw std::runtime_error(*why);
  if (const auto* r = std::get_if<agent::JobReport>(&*reply)) fmt::print("{}", step_line(*r));
}

}  // namespace

std::optional<std::string> slurm_step_cgroup(std::string_view task_cgroup, std::string_view job_id,
                                             std::string_view step) {
  if (job_id.empty() || step.empty()) return std::nullopt;
  const std::string part = fmt::format("/job_{}/step_{}", job_id, step);
  for (auto at = task_cgroup.find(part); at != std::string_view::npos;
       at = task_cgroup.find(part, at + 1)) {
    const auto end = at + part.size();
    if (end == task_cgroup.size() || task_cgroup[end] == '/') {
      return std::string(task_cgroup.substr(0, end));
    }
  }
  return std::nullopt;
}

void add_slurm_event_command(CLI::App& app) {
  auto flags = std::make_shared<EventFlags>();
  auto* cmd = app.add_subcommand("slurm-event",
                                 "Tell the node agent that a Slurm job (Prolog/Epilog) or step "
                                 "(SPANK plugin) starts or ends here");
  cmd->add_option("event", flags->event, "start or end (a job), step-start or step-end (a step)")
      ->required()
      ->check(CLI::IsMember({"start", "end", "step-start", "step-end"}));
  cmd->add_option("--submit-time", flags->submit_time,
                  "The job's submit time, seconds since the epoch (with scontrol's SubmitTime); "
                  "required for start and end, for steps by default the job's on this node");
  cmd->add_option("--step", flags->step, "step-start, step-end: the step (batch, 0, 1, ...)");
  cmd->add_option("--pid", flags->pid,
                  "step-start: the step's slurmstepd (followed when the step has no cgroup)");
  cmd->add_option("--task-pid", flags->task_pid,
                  "step-start: one of the step's tasks; its cgroup gives the step's");
  cmd->add_option("--exit-code", flags->exit_code, "step-end: the step's exit code");
  cmd->add_option("--socket", flags->socket, "The node agent's socket (default: agent-socket)");
  cmd->add_option("--config", flags->config,
                  "Read this configuration file instead of the defaults");
  cmd->add_flag("--exclusive", flags->exclusive, "The job has the whole node (charge all of it)");
  cmd->add_option("--notify-file", flags->notify_file,
                  "At the end: append the job's energy, CO2 and budget standing to this file (the "
                  "job's output), as the job's user, never following a link");
  cmd->callback([flags] {
    const bool step = flags->event.starts_with("step-");
    if (step && flags->step.empty()) throw CLI::ValidationError("--step", "is required");
    try {
      if (flags->event == "step-start") {
        step_start(*flags);
      } else if (flags->event == "step-end") {
        step_end(*flags);
      } else {
        send(*flags);
      }
    } catch (const std::exception& e) {
      // Never fail the prolog or the step: a failing prolog drains the node.
      if (step) {
        fmt::print(stderr, "jobcarbon slurm-event {} job {} step {}: {}\n", flags->event,
                   env_or("SLURM_JOB_ID"), flags->step, e.what());
      } else {
        fmt::print(stderr, "jobcarbon slurm-event: {}\n", e.what());
      }
    }
  });
}

}  // namespace jobcarbon::cli
