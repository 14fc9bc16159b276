// `jobcarbon run` when a node agent (jobcarbond) runs on the machine: the run registers its
// process tree with the agent instead of reading the sensors itself (one reader per node), shows
// the agent's running figures on the live line, and takes its report from the agent's job_report
// at the end. Inside a job the agent already meters (a Slurm job), the run is a sub-record: its
// share of that job, never charged a second time.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <jobcarbon/agent/protocol.hpp>
#include <jobcarbon/cli/metered_run.hpp>
#include <jobcarbon/os/clock.hpp>

namespace jobcarbon::cli {

struct AgentRunSetup {
  std::filesystem::path socket;
  std::vector<std::string> command;
  agent::JobKey key;  // cluster "local", the run's job id, its start as submit time, step "run"
  std::string user;
  uid_t uid = 0;
  // Claimed only when the caller may (root): an ordinary user's run is known by its processes.
  std::string account;
  std::vector<std::string> gpus;
  bool exclusive = false;
  std::map<std::string, std::string> tags;
  std::FILE* live = nullptr;
  std::filesystem::path proc_root = "/proc";
};

struct AgentRunOutcome {
  enum class Kind {
    kNoAgent,  // nothing listens at the socket: meter in this process
    kRefused,  // the agent answered but would not meter the run (note says why): meter here
    kRan,      // the agent metered it; result holds the report
  };
  Kind kind = Kind::kNoAgent;
  std::string note;
  MeteredRunResult result;
  std::optional<agent::JobKey> parent;  // set for a sub-record
  bool reported = false;                // the agent's job_report arrived
};

// Register with the agent and run the command under it; see the file comment. Returns kNoAgent or
// kRefused before the command starts, so that the caller can meter it itself.
AgentRunOutcome agent_metered_run(const AgentRunSetup& setup, const os::Clock& clock);

}  // namespace jobcarbon::cli
