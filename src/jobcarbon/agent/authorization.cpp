#include <jobcarbon/agent/authorization.hpp>

#include <type_traits>

#include <fmt/format.h>

namespace jobcarbon::agent {
namespace {

bool privileged(const PeerCred& peer, const AgentPolicy& policy) {
  return peer.uid == 0 || (policy.slurm_uid && *policy.slurm_uid == peer.uid);
}

std::expected<void, std::string> deny(std::string reason) {
  return std::unexpected(std::move(reason));
}

std::expected<void, std::string> may_start(const PeerCred& peer, const JobStart& job,
                                           const AuthorityFacts& facts) {
  if (job.uid != static_cast<std::int64_t>(peer.uid)) {
    return deny(fmt::format("uid {} may not register a job for uid {}", peer.uid, job.uid));
  }
  if (!job.cgroup.empty()) return deny("only root or the Slurm user may register a cgroup");
  if (!job.gpus.empty() || !job.gpu_indices.empty()) {
    return deny("only root or the Slurm user may assign GPUs to a job");
  }
  if (job.exclusive) return deny("only root or the Slurm user may register an exclusive job");
  if (!job.account.empty()) return deny("only root or the Slurm user may name an account");
  if (job.pids.empty()) return deny("a job registered by an ordinary user needs its pids");
  for (const auto pid : job.pids) {
    const auto owner = facts.pid_owner ? facts.pid_owner(static_cast<pid_t>(pid)) : std::nullopt;
    if (!owner) return deny(fmt::format("pid {} does not exist", pid));
    if (*owner != peer.uid) {
      return deny(fmt::format("pid {} belongs to uid {}, not to uid {}", pid, *owner, peer.uid));
    }
  }
  return {};
}

std::expected<void, std::string> may_end(const PeerCred& peer, const JobEnd& end,
                                         const AuthorityFacts& facts) {
  const auto owner = facts.job_owner ? facts.job_owner(end.key) : std::nullopt;
  if (!owner) return deny(fmt::format("unknown job {} step {}", end.key.job_id, end.key.step));
  if (*owner != peer.uid) {
    return deny(
        fmt::format("uid {} may not end job {} of uid {}", peer.uid, end.key.job_id, *owner));
  }
  return {};
}

}  // namespace

std::expected<void, std::string> may(const PeerCred& peer, const Message& message,
                                     const AgentPolicy& policy, const AuthorityFacts& facts) {
  return std::visit(
      [&](const auto& m) -> std::expected<void, std::string> {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, StatusRequest>) {
          return {};
        } else if constexpr (std::is_same_v<T, JobStart>) {
          if (privileged(peer, policy)) return {};
          return may_start(peer, m, facts);
        } else if constexpr (std::is_same_v<T, JobEnd>) {
          if (privileged(peer, policy)) return {};
          return may_end(peer, m, facts);
        } else {
          return deny(fmt::format("{} is a reply; the agent does not take it", type_name(message)));
        }
      },
      message);
}

bool may_see(const PeerCred& peer, const RunningJob& job, const AgentPolicy& policy) {
  return privileged(peer, policy) || job.uid == static_cast<std::int64_t>(peer.uid);
}

}  // namespace jobcarbon::agent
