// spank_jobcarbon.so: Slurm's SPANK plugin for jobcarbon (docs/slurm.md, "Steps"). Hooks only: in
// slurmstepd (the remote context, root) it tells the node agent that a step starts and ends by
// running `jobcarbon slurm-event step-start|step-end`, and at the end of an srun step prints that
// command's line (the step's energy and CO2 on this node) on srun's stderr. The agent makes each
// step a sub-record of the job's Prolog registration, so nothing is charged twice. It never fails
// a step: problems go to slurmd's log.
//
// plugstack.conf: optional /usr/local/lib/slurm/spank_jobcarbon.so [jobcarbon=PATH] [socket=PATH]
//                 [config=FILE] [notify=0|1] [timeout=SECONDS]
// %n in socket is the node's name (several slurmd on one host).
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

extern "C" {
#include <slurm/slurm.h>  // the special step ids (SLURM_BATCH_SCRIPT, ...)
#include <slurm/spank.h>
}

#include <jobcarbon/os/command.hpp>

#define JOBCARBON_SPANK_EXPORT __attribute__((visibility("default")))

// What the plugin loader looks up. SPANK_PLUGIN() would give them internal linkage in C++.
extern "C" {
JOBCARBON_SPANK_EXPORT extern const char plugin_name[];
JOBCARBON_SPANK_EXPORT extern const char plugin_type[];
JOBCARBON_SPANK_EXPORT extern const unsigned int plugin_version;
JOBCARBON_SPANK_EXPORT extern const unsigned int spank_plugin_version;
const char plugin_name[] = "jobcarbon";
const char plugin_type[] = "spank";
const unsigned int plugin_version = SLURM_VERSION_NUMBER;
const unsigned int spank_plugin_version = 1;
}

namespace {

// The plugin's arguments from plugstack.conf.
struct Settings {
  std::string jobcarbon = "/usr/local/bin/jobcarbon";
  std::string socket;  // empty: the configuration's agent-socket
  std::string config;  // empty: jobcarbon's default configuration
  bool notify = true;  // print each srun step's line on srun's stderr
  int timeout_s = 5;   // for each jobcarbon run (slurmstepd waits)
};

// One step in this slurmstepd (a slurmstepd runs one step on one node).
struct StepState {
  bool started = false;  // the agent took the step-start
  bool ended = false;    // step-end was run
  std::uint32_t tasks_exited = 0;
  int exit_code = 0;  // the worst of the local tasks', as a shell reports it
};

// SPANK hands a plugin no context of its own between hooks, so the state of the one step this
// slurmstepd runs is kept here (srun, sbatch and slurmd load their own copies).
Settings g_settings;
StepState g_step;

Settings parse_settings(int ac, char** av) {
  Settings s;
  for (int i = 0; i < ac; ++i) {
    const std::string_view a = av[i];
    const auto eq = a.find('=');
    const std::string_view name = a.substr(0, eq);
    const std::string value(eq == std::string_view::npos ? "" : a.substr(eq + 1));
    if (name == "jobcarbon" && !value.empty()) {
      s.jobcarbon = value;
    } else if (name == "socket") {
      s.socket = value;
    } else if (name == "config") {
      s.config = value;
    } else if (name == "notify") {
      s.notify = value != "0" && value != "no" && value != "false";
    } else if (name == "timeout") {
      const int t = std::atoi(value.c_str());
      if (t > 0) {
        s.timeout_s = t;
      } else {
        slurm_error(
            "jobcarbon: plugin argument '%s': not a whole number of seconds above 0; "
            "timeout stays %d s",
            av[i], s.timeout_s);
      }
    } else {
      slurm_info("jobcarbon: unknown plugin argument '%s' ignored", av[i]);
    }
  }
  return s;
}

// This node's name: slurmstepd's own environment has it; the job's too, from task hooks on.
std::string node_name(spank_t sp) {
  if (const char* n = std::getenv("SLURMD_NODENAME"); n != nullptr && *n != '\0') return n;
  char buf[256];
  if (spank_getenv(sp, "SLURMD_NODENAME", buf, sizeof buf) == ESPANK_SUCCESS) return buf;
  return {};
}

// Return the step's name in the agent's key ("batch", "0", ...), or "" for a step without its
// own work (the extern step, which the Prolog's "job" registration covers).
std::string step_name(spank_t sp) {
  std::uint32_t step = 0;
  if (spank_get_item(sp, S_JOB_STEPID, &step) != ESPANK_SUCCESS) return {};
  switch (step) {
    case SLURM_BATCH_SCRIPT:
      return "batch";
    case SLURM_EXTERN_CONT:
    case SLURM_PENDING_STEP:
      return {};
    case SLURM_INTERACTIVE_STEP:
      return "interactive";
    default:
      return std::to_string(step);
  }
}

// The environment of `jobcarbon slurm-event`: the job's identity from Slurm's items where it has
// them, and only the few variables the command reads from the job's environment — never the
// whole of it (LD_PRELOAD, JOBCARBON_LEDGER: the user's) for a program that runs as root.
std::vector<std::string> event_environment(spank_t sp) {
  std::vector<std::string> env = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  std::uint32_t job = 0;
  if (spank_get_item(sp, S_JOB_ID, &job) == ESPANK_SUCCESS) {
    env.push_back("SLURM_JOB_ID=" + std::to_string(job));
  }
  uid_t uid = 0;
  if (spank_get_item(sp, S_JOB_UID, &uid) == ESPANK_SUCCESS) {
    env.push_back("SLURM_JOB_UID=" + std::to_string(uid));
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
      env.push_back(std::string("SLURM_JOB_USER=") + pw.pw_name);
    }
  }
  const std::string node = node_name(sp);
  if (!node.empty()) env.push_back("SLURMD_NODENAME=" + node);
  for (const char* name :
       {"SLURM_CLUSTER_NAME", "SLURM_JOB_ACCOUNT", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"}) {
    char buf[1024];
    if (spank_getenv(sp, name, buf, sizeof buf) == ESPANK_SUCCESS) {
      env.push_back(std::string(name) + "=" + buf);
    }
  }
  return env;
}

// Run `jobcarbon slurm-event EVENT --step STEP ARGS...` (bounded in time: slurmstepd waits) and
// log what it printed on stderr (only what went wrong: the agent did not take the event). Return
// what it printed on stdout, or nullopt when it did not finish or complained.
std::optional<std::string> run_event(spank_t sp, const char* event, const std::string& step,
                                     std::vector<std::string> args) {
  std::vector<std::string> argv = {g_settings.jobcarbon, "slurm-event", event, "--step", step};
  if (!g_settings.socket.empty()) {
    std::string socket = g_settings.socket;
    const std::string node = node_name(sp);
    for (auto at = socket.find("%n"); at != std::string::npos; at = socket.find("%n", at)) {
      socket.replace(at, 2, node);
      at += node.size();
    }
    argv.insert(argv.end(), {"--socket", socket});
  }
  if (!g_settings.config.empty()) argv.insert(argv.end(), {"--config", g_settings.config});
  argv.insert(argv.end(), args.begin(), args.end());
  const auto env = event_environment(sp);
  const auto r = jobcarbon::os::run_command(
      argv, std::chrono::milliseconds(g_settings.timeout_s * 1000), 64 << 10, &env);
  if (!r) {
    slurm_info("jobcarbon: %s step %s: %s", event, step.c_str(), r.error().c_str());
    return std::nullopt;
  }
  std::size_t start = 0;
  while (start < r->err.size()) {
    auto nl = r->err.find('\n', start);
    if (nl == std::string::npos) nl = r->err.size();
    slurm_info("%s", r->err.substr(start, nl - start).c_str());
    start = nl + 1;
  }
  if (!r->err.empty()) return std::nullopt;
  return r->out;
}

// End the step (once); print its line on srun's stderr when asked.
void end_step(spank_t sp, bool print) {
  if (!g_step.started || g_step.ended) return;
  g_step.ended = true;
  const std::string step = step_name(sp);
  const std::string out =
      run_event(sp, "step-end", step, {"--exit-code", std::to_string(g_step.exit_code)})
          .value_or("");
  std::size_t start = 0;
  while (start < out.size()) {
    auto nl = out.find('\n', start);
    if (nl == std::string::npos) nl = out.size();
    const std::string line = out.substr(start, nl - start);
    // slurm_spank_log reaches srun's stderr from the task hooks (not from slurm_spank_exit), and
    // slurmd's log as slurm_info does.
    if (print && !line.empty()) {
      slurm_spank_log("%s", line.c_str());
    } else if (!line.empty()) {
      slurm_info("%s", line.c_str());
    }
    start = nl + 1;
  }
}

}  // namespace

extern "C" {

JOBCARBON_SPANK_EXPORT int slurm_spank_init(spank_t sp, int ac, char** av) {
  try {
    if (spank_remote(sp) == 1) g_settings = parse_settings(ac, av);
  } catch (const std::exception& e) {
    slurm_info("jobcarbon: %s", e.what());
  }
  return 0;
}

// Once per step and node, in slurmstepd as root, after the first task was forked and placed in
// the step's cgroup but before it runs the user's program.
JOBCARBON_SPANK_EXPORT int slurm_spank_task_post_fork(spank_t sp, int, char**) {
  try {
    int task = -1;
    pid_t task_pid = 0;
    if (spank_get_item(sp, S_TASK_ID, &task) != ESPANK_SUCCESS || task != 0) return 0;
    const std::string step = step_name(sp);
    if (step.empty()) return 0;
    spank_get_item(sp, S_TASK_PID, &task_pid);
    const auto r =
        run_event(sp, "step-start", step,
                  {"--pid", std::to_string(::getpid()), "--task-pid", std::to_string(task_pid)});
    // A step the agent did not take (no agent, the job not registered) is not ended either: that
    // would only wait for the same failure again.
    g_step.started = r.has_value();
  } catch (const std::exception& e) {
    slurm_info("jobcarbon: %s", e.what());
  }
  return 0;
}

// After each local task's exit, in slurmstepd as root; the step ends here with its last task,
// while srun still receives the step's output.
JOBCARBON_SPANK_EXPORT int slurm_spank_task_exit(spank_t sp, int, char**) {
  try {
    int status = 0;
    if (spank_get_item(sp, S_TASK_EXIT_STATUS, &status) == ESPANK_SUCCESS) {
      int code = 0;
      if (WIFEXITED(status)) code = WEXITSTATUS(status);
      if (WIFSIGNALED(status)) code = 128 + WTERMSIG(status);
      if (code > g_step.exit_code) g_step.exit_code = code;
    }
    ++g_step.tasks_exited;
    std::uint32_t tasks = 0;
    if (spank_get_item(sp, S_JOB_LOCAL_TASK_COUNT, &tasks) == ESPANK_SUCCESS &&
        g_step.tasks_exited >= tasks) {
      // The batch step's user reads the job's lines in its output file (the Epilog's).
      end_step(sp, g_settings.notify && step_name(sp) != "batch");
    }
  } catch (const std::exception& e) {
    slurm_info("jobcarbon: %s", e.what());
  }
  return 0;
}

// The step is over on this node: end it if its tasks' exits did not (a launch that failed).
JOBCARBON_SPANK_EXPORT int slurm_spank_exit(spank_t sp, int, char**) {
  try {
    if (spank_remote(sp) == 1) end_step(sp, false);
  } catch (const std::exception& e) {
    slurm_info("jobcarbon: %s", e.what());
  }
  return 0;
}

}  // extern "C"
