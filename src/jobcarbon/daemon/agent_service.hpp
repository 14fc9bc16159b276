// jobcarbond's service: the engine plus everything around it — the messages from the socket
// (authorized by the caller's credentials), the journal after every boundary, the spool and the
// ledger, running jobs' provisional usage, and the snapshot /metrics renders. Single-threaded
// except snapshot(), which the HTTP thread may call at any time.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <jobcarbon/agent/authorization.hpp>
#include <jobcarbon/agent/cgroup_usage.hpp>
#include <jobcarbon/agent/engine.hpp>
#include <jobcarbon/agent/framing.hpp>
#include <jobcarbon/agent/spool.hpp>
#include <jobcarbon/ledger/store.hpp>
#include <jobcarbon/os/process_tree.hpp>

namespace jobcarbon::daemon {

struct ServiceConfig {
  std::filesystem::path state_dir;  // journal.json and spool/
  std::filesystem::path proc_root = "/proc";
  std::filesystem::path cgroup_root = "/sys/fs/cgroup";
  agent::AgentPolicy policy;
  Duration running_update_interval{std::chrono::seconds(60)};
  Duration ledger_retry_interval{std::chrono::seconds(30)};
  // A boundary rewrites the journal at most this often (job starts and ends always do).
  Duration journal_interval{std::chrono::seconds(1)};
  // Opens the ledger; called again after a failure (the ledger was down).
  std::function<std::expected<std::unique_ptr<ledger::Store>, std::string>()> open_ledger;
  std::function<void(const std::string&)> log;  // one line per event worth an operator's eye
};

// Reads jobs' cumulative usage: the cgroup when the job names one, else the process trees of its
// pids, else — a Slurm job registered by its Prolog, before its cgroup exists — Slurm's job_<id>
// cgroup once it appears (agent::find_slurm_job_cgroup, this node's name for emulated nodes);
// until then the job has no CPU time of its own. Keeps one ProcessTree per job.
class JobUsageReader {
 public:
  JobUsageReader(std::filesystem::path proc_root, std::filesystem::path cgroup_root,
                 std::string node = {});
  std::expected<agent::JobCounters, agent::UsageError> operator()(const agent::JobStart& job);
  // Forget the process trees of jobs that are no longer registered.
  void retain(const std::vector<agent::JobState>& jobs);

 private:
  std::filesystem::path proc_root_;
  std::filesystem::path cgroup_root_;
  std::string node_;
  agent::CgroupReader cgroups_;
  std::map<std::string, std::string> slurm_cgroups_;               // by job key text, once found
  std::map<std::string, std::unique_ptr<os::ProcessTree>> trees_;  // by job key text
};

class AgentService {
 public:
  AgentService(agent::Engine& engine, JobUsageReader& usage, const os::Clock& clock,
               ServiceConfig config);

  // Load the journal (a damaged one is moved aside and named in the log), start the engine and
  // deliver what it left pending. Returns the engine's notes.
  std::vector<std::string> start(const std::string& boot_id);

  // The socket handler: parse, authorize, act, reply (one line).
  std::string handle(const agent::PeerCred& peer, const agent::Frame& frame);

  // The timers: read power-only sensors; a boundary (journal, deliveries, running updates).
  void power_tick();
  void counter_tick();

  // Return what /metrics shows now (thread-safe: a copy of the last published snapshot).
  agent::MetricsSnapshot snapshot() const;

  // Return the spool (for tests and status).
  const agent::Spool& spool() const { return spool_; }

 private:
  // journal (when forced, when records are waiting, or every journal_interval), spool, ledger,
  // snapshot
  void after_change(bool force_journal);
  void persist();
  void deliver();
  void publish();
  std::string reply(const agent::Message& m) const;
  // Return the registered job that this registration lies within, making it a sub-record, or
  // nullopt for a top-level job: for a Slurm step, its job's Prolog registration (same cluster,
  // job id and submit time, step "job"); else, for a registration by processes, the job whose
  // cgroup holds its first pid or whose pids are its ancestors.
  std::optional<agent::JobKey> parent_of(const agent::JobStart& job) const;

  agent::Engine& engine_;
  JobUsageReader& usage_;
  const os::Clock& clock_;
  ServiceConfig config_;
  agent::Spool spool_;
  std::filesystem::path journal_path_;
  std::unique_ptr<ledger::Store> store_;
  std::optional<os::MonoTime> ledger_retry_at_;
  os::MonoTime next_running_update_{};
  mutable std::mutex snapshot_mutex_;
  agent::MetricsSnapshot snapshot_;
  std::string last_persist_error_;
  std::optional<os::MonoTime> last_persist_;
  std::optional<os::MonoTime> last_publish_;
};

}  // namespace jobcarbon::daemon
