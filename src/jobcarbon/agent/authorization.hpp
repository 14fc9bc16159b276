// Who may tell the agent what. The socket layer reads the caller's credentials (SO_PEERCRED) and
// asks may() before acting on a message; the decision itself is pure so that every rule is tested
// without processes, users or sockets.
#pragma once

#include <sys/types.h>

#include <expected>
#include <functional>
#include <optional>
#include <string>

#include <jobcarbon/agent/protocol.hpp>

namespace jobcarbon::agent {

// The kernel's word on who is at the other end of the socket.
struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The parts of the agent's configuration that decide authority.
struct AgentPolicy {
  // The user slurmd/slurmstepd hooks run as when it is not root ("SlurmdUser"); it may register
  // and end any job. Empty when only root may.
  std::optional<uid_t> slurm_uid;
};

// What may() needs to know about the node's current state, passed in as functions so that the
// decision stays pure.
struct AuthorityFacts {
  // Return the owner (real uid) of a live process, or nothing when there is no such process.
  std::function<std::optional<uid_t>(pid_t)> pid_owner;
  // Return the uid a registered job was started for, or nothing when no such job is registered.
  std::function<std::optional<uid_t>(const JobKey&)> job_owner;
};

// Return whether peer may send message, or a reason it may not (for an Error reply with code
// "forbidden", or "unknown_job" when reason starts with "unknown job"). Rules:
// - root and the configured Slurm user may register and end any job;
// - anyone may ask for status (the agent shows an ordinary user only their own jobs: may_see);
// - an ordinary user may register only a job for their own uid that is known by its processes:
//   at least one pid, every pid alive and theirs, and no cgroup, GPU list, exclusive flag or
//   account, because those would claim energy (or charge a budget) beyond their own processes;
// - an ordinary user may end only a registered job of their own uid;
// - nobody sends replies (ok, error, status_reply) to the agent.
std::expected<void, std::string> may(const PeerCred& peer, const Message& message,
                                     const AgentPolicy& policy, const AuthorityFacts& facts);

// Return whether peer may see job in a status reply: root and the Slurm user see every job, an
// ordinary user only jobs of their own uid.
bool may_see(const PeerCred& peer, const RunningJob& job, const AgentPolicy& policy);

}  // namespace jobcarbon::agent
