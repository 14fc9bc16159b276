#include <jobcarbon/daemon/agent_service.hpp>

#include <sys/stat.h>

#include <fstream>

#include <fmt/format.h>

#include <jobcarbon/agent/journal.hpp>
#include <jobcarbon/os/durable_file.hpp>

namespace jobcarbon::daemon {

namespace fs = std::filesystem;

namespace {

std::string key_text(const agent::JobKey& k) {
  return fmt::format("{}\x1f{}\x1f{}\x1f{}", k.cluster, k.job_id, k.submit_time_us, k.step);
}

std::optional<uid_t> owner_of_pid(const fs::path& proc_root, pid_t pid) {
  struct stat st {};
  if (::stat((proc_root / std::to_string(pid)).c_str(), &st) != 0) return std::nullopt;
  return st.st_uid;
}

}  // namespace

JobUsageReader::JobUsageReader(fs::path proc_root, fs::path cgroup_root, std::string node)
    : proc_root_(std::move(proc_root)),
      cgroup_root_(cgroup_root),
      node_(std::move(node)),
      cgroups_(std::move(cgroup_root)) {}

std::expected<agent::JobCounters, agent::UsageError> JobUsageReader::operator()(
    const agent::JobStart& job) {
  if (!job.cgroup.empty()) {
    const auto u = cgroups_.read(job.cgroup);
    if (u) return agent::JobCounters{u->cpu_time, u->memory_bytes};
    // A cgroup directory that no longer exists means the job is over; any other failure is a
    // read error that the next boundary may not have.
    bool gone = agent::check_cgroup_path(job.cgroup).has_value();
    if (gone) {
      const auto rel = fs::path(job.cgroup).relative_path();
      std::error_code ec;
      if (const auto v = cgroups_.version(); v && *v == agent::CgroupVersion::v2) {
        gone = !fs::exists(cgroups_.root() / rel, ec);
      } else if (const auto dir = cgroups_.cpuacct_dir()) {
        gone = !fs::exists(*dir / rel, ec);
      }
    }
    return std::unexpected(agent::UsageError{gone, u.error()});
  }
  if (job.pids.empty()) {
    // Registered by a Slurm Prolog, before the job's processes and cgroup exist: its job_<id>
    // cgroup is looked for at each boundary until found; until then the job has no CPU time of
    // its own (CPU energy stays unallocated unless it is exclusive). It ends with its job_end.
    const std::string k = key_text(job.key);
    auto found = slurm_cgroups_.find(k);
    if (found == slurm_cgroups_.end()) {
      const auto cg = agent::find_slurm_job_cgroup(cgroup_root_, job.key.job_id, node_);
      if (!cg) return agent::JobCounters{};
      found = slurm_cgroups_.emplace(k, *cg).first;
    }
    const auto u = cgroups_.read(found->second);
    if (!u) return agent::JobCounters{};  // the cgroup is gone: the job_end will come
    return agent::JobCounters{u->cpu_time, u->memory_bytes};
  }
  auto& tree = trees_[key_text(job.key)];
  if (!tree) tree = std::make_unique<os::ProcessTree>(static_cast<pid_t>(job.pids[0]), proc_root_);
  const auto u = tree->sample();
  if (!u) return std::unexpected(agent::UsageError{true, u.error()});
  agent::JobCounters c{u->cpu_time, u->rss_bytes};
  // Further pids (rare: a client that starts several commands) add their own trees.
  for (std::size_t i = 1; i < job.pids.size(); ++i) {
    auto& extra = trees_[fmt::format("{}\x1f{}", key_text(job.key), i)];
    if (!extra)
      extra = std::make_unique<os::ProcessTree>(static_cast<pid_t>(job.pids[i]), proc_root_);
    if (const auto e = extra->sample()) {
      c.cpu_time += e->cpu_time;
      c.memory_bytes += e->rss_bytes;
    }
  }
  return c;
}

void JobUsageReader::retain(const std::vector<agent::JobState>& jobs) {
  std::erase_if(slurm_cgroups_, [&](const auto& entry) {
    return std::none_of(jobs.begin(), jobs.end(), [&](const agent::JobState& j) {
      return entry.first == key_text(j.job.key);
    });
  });
  for (auto it = trees_.begin(); it != trees_.end();) {
    const bool live = std::any_of(jobs.begin(), jobs.end(), [&](const agent::JobState& j) {
      // The job's own tree (its key) and its extra pids' trees (key, separator, index).
      const std::string k = key_text(j.job.key);
      return it->first == k || it->first.starts_with(k + "\x1f");
    });
    it = live ? std::next(it) : trees_.erase(it);
  }
}

AgentService::AgentService(agent::Engine& engine, JobUsageReader& usage, const os::Clock& clock,
                           ServiceConfig config)
    : engine_(engine),
      usage_(usage),
      clock_(clock),
      config_(std::move(config)),
      spool_(config_.state_dir / "spool"),
      journal_path_(config_.state_dir / "journal.json") {
  if (!config_.log) config_.log = [](const std::string&) {};
}

std::vector<std::string> AgentService::start(const std::string& boot_id) {
  std::error_code ec;
  fs::create_directories(config_.state_dir, ec);
  ::chmod(config_.state_dir.c_str(), 0700);
  std::optional<agent::JournalState> journal;
  const auto text = os::read_small_file(journal_path_, agent::kMaxJournalBytes);
  if (!text) {
    config_.log(
        fmt::format("journal {}: {}; starting without it", journal_path_.string(), text.error()));
  } else if (*text) {
    auto parsed = agent::parse_journal(**text);
    if (parsed) {
      journal = std::move(*parsed);
    } else {
      // Never silently dropped: kept aside for a person, and the agent starts afresh.
      const auto aside = journal_path_.string() + fmt::format(".damaged-{}", ::time(nullptr));
      fs::rename(journal_path_, aside, ec);
      config_.log(fmt::format("journal {}: {}; moved to {} and starting without it",
                              journal_path_.string(), parsed.error(), aside));
    }
  }
  auto notes = engine_.start(journal, boot_id);
  for (const auto& n : notes) config_.log(n);
  next_running_update_ = clock_.monotonic();
  after_change(true);
  return notes;
}

void AgentService::persist() {
  const auto ok =
      os::write_file_atomically(journal_path_, agent::serialize_journal(engine_.journal()));
  if (!ok && ok.error() != last_persist_error_) config_.log("journal: " + ok.error());
  last_persist_error_ = ok ? "" : ok.error();
}

void AgentService::deliver() {
  // 1. The journal holds the finished records (persist() ran); 2. the spool takes them; 3. the
  // engine forgets them. A crash between 1 and 3 puts them again: one file per key, and the
  // ledger's append is idempotent, so nothing is counted twice.
  const auto& out = engine_.outbox();
  bool all_spooled = true;
  for (const auto& r : out.jobs) {
    if (auto ok = spool_.put(r); !ok) {
      config_.log(fmt::format("spool: job {} step {}: {}", r.job_id, r.step, ok.error()));
      all_spooled = false;
    }
  }
  for (const auto& r : out.idle) {
    if (auto ok = spool_.put(r); !ok) {
      config_.log("spool: idle interval: " + ok.error());
      all_spooled = false;
    }
  }
  // Steps (sub-records: a Slurm step within its job's Prolog registration) go to their own files
  // and, at replay, to the ledger's job_steps: shares of their job's record, never counted.
  for (const auto& r : out.steps) {
    if (auto ok = spool_.put_step(r); !ok) {
      config_.log(
          fmt::format("spool: job {} step {} (step record): {}", r.job_id, r.step, ok.error()));
      all_spooled = false;
    }
  }
  if (all_spooled) engine_.clear_outbox();

  const auto now = clock_.monotonic();
  const bool replay_due = spool_.size() > 0;
  const bool running_due = now >= next_running_update_ && !engine_.jobs().empty();
  if (!replay_due && !running_due) return;
  if (!store_) {
    if (ledger_retry_at_ && now < *ledger_retry_at_) return;
    auto opened = config_.open_ledger ? config_.open_ledger()
                                      : std::unexpected(std::string("no ledger configured"));
    if (!opened) {
      if (!ledger_retry_at_) config_.log("ledger: " + opened.error() + "; records stay spooled");
      ledger_retry_at_ = now + config_.ledger_retry_interval;
      return;
    }
    if (ledger_retry_at_) config_.log("ledger: reachable again");
    ledger_retry_at_.reset();
    store_ = std::move(*opened);
  }
  if (replay_due) {
    const auto r = spool_.replay(*store_);
    if (!r) {
      config_.log("spool: " + r.error());
    } else {
      for (const auto& c : r->corrupt) config_.log("spool: " + c);
      if (!r->last_error.empty()) {
        config_.log("ledger: " + r->last_error + "; records stay spooled");
        store_.reset();
        ledger_retry_at_ = now + config_.ledger_retry_interval;
        return;
      }
    }
  }
  if (running_due) {
    next_running_update_ = now + config_.running_update_interval;
    for (const auto& rec : engine_.running_records()) {
      if (auto ok = store_->update_running(rec); !ok) {
        config_.log("ledger: running job " + rec.job_id + ": " + ok.error());
        store_.reset();
        ledger_retry_at_ = now + config_.ledger_retry_interval;
        return;
      }
    }
  }
}

void AgentService::publish() {
  last_publish_ = clock_.monotonic();
  auto snap = engine_.metrics();
  std::lock_guard lock(snapshot_mutex_);
  snapshot_ = std::move(snap);
}

agent::MetricsSnapshot AgentService::snapshot() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

void AgentService::after_change(bool force_journal) {
  const auto now = clock_.monotonic();
  if (force_journal || !engine_.outbox().empty() || !last_persist_ ||
      now - *last_persist_ >= config_.journal_interval) {
    persist();
    last_persist_ = now;
  }
  deliver();
  usage_.retain(engine_.jobs());
  publish();
}

void AgentService::power_tick() {
  engine_.sample_power();
  // The snapshot (strings for every channel and job) is most of a power tick's cost: refreshed
  // at most once a second between boundaries, which is finer than any scrape interval.
  const auto now = clock_.monotonic();
  if (!last_publish_ || now - *last_publish_ >= std::chrono::seconds(1)) publish();
}

void AgentService::counter_tick() {
  engine_.boundary();
  after_change(false);
}

std::string AgentService::reply(const agent::Message& m) const {
  return agent::serialize(m);
}

std::optional<agent::JobKey> AgentService::parent_of(const agent::JobStart& job) const {
  // A Slurm step (registered by the SPANK plugin, by cgroup or pids) lies within its job's
  // allocation on this node, which the Prolog registered as step "job" with the same cluster,
  // job id and submit time: the step is a sub-record of it, so that its energy is a share of the
  // job's and never charged twice.
  if (job.key.step != ledger::kJobStep) {
    for (const auto& j : engine_.jobs()) {
      if (!j.parent && j.job.key.step == ledger::kJobStep && j.job.key.cluster == job.key.cluster &&
          j.job.key.job_id == job.key.job_id &&
          j.job.key.submit_time_us == job.key.submit_time_us) {
        return j.job.key;
      }
    }
  }
  // Otherwise only a registration by processes can lie inside another job; a Slurm job (by
  // cgroup) is top-level.
  if (job.pids.empty() || !job.cgroup.empty()) return std::nullopt;
  const auto pid = static_cast<pid_t>(job.pids.front());
  const auto cg = agent::cgroup_of_pid(config_.proc_root, pid);
  for (const auto& j : engine_.jobs()) {
    if (j.parent) continue;
    // Inside a job's cgroup (a `jobcarbon run` in a Slurm job's step).
    if (cg && !j.job.cgroup.empty() &&
        (*cg == j.job.cgroup || cg->starts_with(j.job.cgroup + "/"))) {
      return j.job.key;
    }
  }
  // A descendant of a job known by its processes (a `jobcarbon run` within a `jobcarbon run`).
  pid_t p = pid;
  for (int depth = 0; depth < 64 && p > 1; ++depth) {
    std::ifstream in(config_.proc_root / std::to_string(p) / "stat");
    std::string line;
    std::getline(in, line);
    const auto st = os::parse_proc_stat(line);
    if (!st) break;
    p = st->ppid;
    for (const auto& j : engine_.jobs()) {
      if (j.parent || j.job.pids.empty()) continue;
      if (std::find(j.job.pids.begin(), j.job.pids.end(), static_cast<std::int64_t>(p)) !=
          j.job.pids.end()) {
        return j.job.key;
      }
    }
  }
  return std::nullopt;
}

std::string AgentService::handle(const agent::PeerCred& peer, const agent::Frame& frame) {
  if (!frame) {
    // A line cut off by the peer's close is dropped (docs/agent-protocol.md): nobody is left to
    // read a reply about it.
    if (frame.error() == agent::FrameError::truncated) return "";
    return reply(agent::Error{"too_long", agent::describe(frame.error(), agent::kMaxMessageBytes)});
  }
  const auto parsed = agent::parse(*frame);
  if (!parsed) return reply(agent::to_reply(parsed.error()));
  agent::AuthorityFacts facts;
  facts.pid_owner = [this](pid_t pid) { return owner_of_pid(config_.proc_root, pid); };
  facts.job_owner = [this](const agent::JobKey& k) { return engine_.job_owner(k); };
  if (auto ok = agent::may(peer, *parsed, config_.policy, facts); !ok) {
    const bool unknown = ok.error().starts_with("unknown job");
    return reply(agent::Error{unknown ? "unknown_job" : "forbidden", ok.error()});
  }
  if (const auto* start = std::get_if<agent::JobStart>(&*parsed)) {
    const auto r = engine_.job_start(*start, parent_of(*start));
    after_change(true);
    if (!r) return reply(r.error());
    return reply(agent::Ok{});
  }
  if (const auto* end = std::get_if<agent::JobEnd>(&*parsed)) {
    const auto r = engine_.job_end(*end);
    after_change(true);
    if (!r) return reply(r.error());
    return reply(*r);
  }
  if (std::holds_alternative<agent::StatusRequest>(*parsed)) {
    agent::StatusReply all = engine_.status();
    agent::StatusReply shown;
    for (auto& j : all.jobs) {
      if (agent::may_see(peer, j, config_.policy)) shown.jobs.push_back(std::move(j));
    }
    std::string line = reply(shown);
    if (line.size() > agent::kMaxMessageBytes + 1) {
      return reply(agent::Error{
          "internal", fmt::format("{} running jobs do not fit one reply", shown.jobs.size())});
    }
    return line;
  }
  return reply(agent::Error{"unknown_type", "the agent does not take replies"});
}

}  // namespace jobcarbon::daemon
