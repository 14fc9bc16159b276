#include <jobcarbon/agent/engine.hpp>

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/store.hpp>
#include <jobcarbon/report/record_energy.hpp>
#include <jobcarbon/report/run_report.hpp>
#include <jobcarbon/sensors/gpu_selection.hpp>

namespace jobcarbon::agent {

using sensors::Domain;

namespace {

ledger::Timestamp to_timestamp(os::WallTime t) {
  return std::chrono::floor<std::chrono::microseconds>(t);
}

constexpr std::array kDomains{Domain::kGpu,  Domain::kCpuPackage,   Domain::kDram,
                              Domain::kNode, Domain::kEstimatedCpu, Domain::kEstimatedMemory};

nlohmann::json domains_json(const attribution::DomainEnergy& e) {
  nlohmann::json j = nlohmann::json::object();
  for (const Domain d : kDomains) j[std::string(sensors::domain_name(d))] = e[d].value;
  return j;
}

}  // namespace

Engine::Engine(energy::Meter& meter, const os::Clock& clock, const os::Machine& machine,
               EngineConfig config, UsageReader usage, CarbonModel carbon)
    : meter_(meter),
      clock_(clock),
      machine_(machine),
      config_(std::move(config)),
      usage_(std::move(usage)),
      carbon_(std::move(carbon)),
      attributor_(meter.channels()) {
  power_sensors_.resize(meter_.sensor_count());
  for (std::size_t s = 0; s < meter_.sensor_count(); ++s) power_sensors_[s] = meter_.power_only(s);
  config_.online_cpus = std::max(1, config_.online_cpus);
}

std::vector<std::string> Engine::start(const std::optional<JournalState>& journal,
                                       const std::string& boot_id) {
  std::vector<std::string> notes;
  boot_id_ = boot_id;
  const auto busy_now = machine_.cpu_times();
  if (journal && journal->boot_id == boot_id && !boot_id.empty()) {
    std::map<std::string, std::size_t, std::less<>> index;
    for (std::size_t c = 0; c < meter_.channels().size(); ++c) index[meter_.channels()[c].id] = c;
    std::vector<std::pair<std::size_t, std::int64_t>> previous;
    std::size_t missing = 0;
    for (const auto& r : journal->readings) {
      if (const auto it = index.find(r.channel); it != index.end()) {
        previous.emplace_back(it->second, r.value);
      } else {
        ++missing;
      }
    }
    boundary_time_ = os::MonoTime(std::chrono::nanoseconds(journal->mono_ns));
    boundary_wall_ = os::WallTime(std::chrono::microseconds(journal->wall_us));
    meter_.resume(boundary_time_, boundary_wall_, previous);
    jobs_ = journal->jobs;
    last_busy_ = journal->machine_busy;
    idle_open_ = journal->idle_open;
    outbox_.jobs = journal->pending_jobs;
    outbox_.idle = journal->pending_idle;
    outbox_.steps = journal->pending_steps;
    notes.push_back(fmt::format(
        "resumed from the journal: {} running job(s), {} counter reading(s); the energy since "
        "the journal was written is measured from the saved readings",
        jobs_.size(), previous.size()));
    if (missing > 0) {
      notes.push_back(fmt::format(
          "{} channel(s) of the journal are gone (sensor removed?): their energy while the agent "
          "was down is not measured",
          missing));
    }
    return notes;
  }
  meter_.start();
  boundary_time_ = meter_.started_at();
  boundary_wall_ = meter_.wall_started_at();
  if (busy_now) last_busy_ = busy_now->busy;
  if (!journal) return notes;
  // Another boot: every counter restarted, so the time between the journal and now cannot be
  // measured, and no job of the last boot is still running.
  outbox_.jobs = journal->pending_jobs;
  outbox_.idle = journal->pending_idle;
  outbox_.steps = journal->pending_steps;
  if (journal->idle_open) outbox_.idle.push_back(*journal->idle_open);
  const auto at = ledger::from_us(journal->wall_us);
  for (JobState job : journal->jobs) {
    file(finish(job, at, -1,
                {fmt::format("the node restarted (boot id {} -> {}); the job's energy after the "
                             "agent's last journal entry is not measured",
                             journal->boot_id, boot_id)}),
         job.parent.has_value());
  }
  notes.push_back(fmt::format(
      "the node restarted since the journal was written: {} job(s) of the last boot ended with "
      "the energy measured up to the journal; counters start afresh",
      journal->jobs.size()));
  return notes;
}

void Engine::accumulate(const energy::Interval& iv) {
  if (!have_pending_) {
    pending_ = iv;
    have_pending_ = true;
    return;
  }
  energy::merge_into(pending_, iv);
}

void Engine::sample_power() {
  if (std::find(power_sensors_.begin(), power_sensors_.end(), true) == power_sensors_.end()) return;
  accumulate(meter_.sample(power_sensors_));
}

void Engine::boundary() {
  const auto& iv = meter_.sample();
  boundary_time_ = iv.end;
  boundary_wall_ = iv.wall_end;
  accumulate(iv);
  attribute_pending();
  end_gone_jobs();
}

void Engine::attribute_pending() {
  if (!have_pending_) return;
  have_pending_ = false;
  const energy::Interval& iv = pending_;

  // Every job's CPU time since the last boundary (sub-records too: their share needs it).
  cpu_now_.assign(jobs_.size(), std::nullopt);
  std::vector<Duration> cpu_delta(jobs_.size(), Duration(0));
  std::vector<std::int64_t> memory(jobs_.size(), 0);
  gone_.clear();
  for (std::size_t i = 0; i < jobs_.size(); ++i) {
    const auto counters = usage_(jobs_[i].job);
    if (!counters) {
      if (counters.error().gone) gone_.push_back(i);
      continue;
    }
    cpu_now_[i] = counters->cpu_time;
    memory[i] = counters->memory_bytes;
    if (jobs_[i].last_cpu) {
      cpu_delta[i] = std::max(Duration(0), counters->cpu_time - *jobs_[i].last_cpu);
    }
  }
  // The node's attribution sees the top-level jobs only.
  std::vector<std::size_t> top;
  for (std::size_t i = 0; i < jobs_.size(); ++i) {
    if (!jobs_[i].parent) top.push_back(i);
  }
  usage_buf_.resize(top.size());
  for (std::size_t t = 0; t < top.size(); ++t) {
    auto& u = usage_buf_[t];
    const auto& job = jobs_[top[t]];
    u.gpus = job.job.gpus;
    u.exclusive = job.job.exclusive;
    u.cpu_time = cpu_delta[top[t]];
    u.rss_bytes = memory[top[t]];
  }

  attribution::MachineUsage mu;
  mu.cpu_capacity = iv.length() * config_.online_cpus;
  if (const auto busy = machine_.cpu_times()) {
    if (last_busy_) mu.cpu_busy = std::max(Duration(0), Duration(busy->busy - *last_busy_));
    last_busy_ = busy->busy;
  }
  if (const auto mem = machine_.memory())
    mu.mem_used_bytes = mem->total_bytes - mem->available_bytes;

  attributor_.attribute(iv, mu, usage_buf_, split_);
  machine_total_ += split_.machine;
  unallocated_total_ += split_.unallocated;
  const auto co2_of = [&](Microjoules e) {
    return carbon_.co2_kg && e.value > 0 ? carbon_.co2_kg(e, iv.wall_start, iv.wall_end) : 0.0;
  };
  for (std::size_t t = 0; t < top.size(); ++t) {
    auto& job = jobs_[top[t]];
    job.charged += split_.jobs[t];
    job.machine += split_.machine;
    job.unallocated += split_.unallocated;
    job.co2_kg += co2_of(split_.jobs[t].total());
  }
  // Sub-records: the parent's energy of this interval in proportion to CPU time. Their CPU times
  // are read a moment after the parent's, so together they may show a little more than it: then
  // they share by their sum, so that the sub-records of a job never add up to more than the job.
  std::vector<std::ptrdiff_t> top_of(jobs_.size(), -1);
  for (std::size_t t = 0; t < top.size(); ++t) top_of[top[t]] = static_cast<std::ptrdiff_t>(t);
  std::vector<std::ptrdiff_t> sub_top(jobs_.size(), -1);
  std::vector<std::int64_t> subs_cpu(top.size(), 0);
  for (std::size_t i = 0; i < jobs_.size(); ++i) {
    if (!jobs_[i].parent) continue;
    const auto p = std::find_if(jobs_.begin(), jobs_.end(),
                                [&](const JobState& j) { return j.job.key == *jobs_[i].parent; });
    if (p == jobs_.end()) continue;
    sub_top[i] = top_of[static_cast<std::size_t>(p - jobs_.begin())];
    if (sub_top[i] >= 0) subs_cpu[static_cast<std::size_t>(sub_top[i])] += cpu_delta[i].count();
  }
  for (std::size_t i = 0; i < jobs_.size(); ++i) {
    if (sub_top[i] < 0) continue;
    const auto t = static_cast<std::size_t>(sub_top[i]);
    // No CPU time of the parent (its cgroup unreadable, no job cgroups): nothing to share.
    const std::int64_t parent_cpu = cpu_delta[top[t]].count();
    const std::int64_t den = parent_cpu > 0 ? std::max(parent_cpu, subs_cpu[t]) : 0;
    const std::int64_t num = cpu_delta[i].count();
    attribution::DomainEnergy share;
    if (den > 0) {
      for (std::size_t d = 0; d < share.by_domain.size(); ++d) {
        share.by_domain[d] = attribution::share_of(split_.jobs[t].by_domain[d], num, den);
      }
    }
    auto& sub = jobs_[i];
    sub.charged += share;
    sub.machine += split_.machine;
    sub.unallocated += split_.unallocated;
    sub.co2_kg += co2_of(share.total());
  }
  for (std::size_t i = 0; i < jobs_.size(); ++i) {
    jobs_[i].cpu_time += cpu_delta[i];
    if (cpu_now_[i]) jobs_[i].last_cpu = cpu_now_[i];
  }
  if (top.empty()) {
    idle_total_ += split_.machine;
    if (!idle_open_) {
      idle_open_ = ledger::NodeIdle{config_.cluster, config_.node, to_timestamp(iv.wall_start),
                                    to_timestamp(iv.wall_start), Microjoules(0)};
    }
    idle_open_->end = to_timestamp(iv.wall_end);
    idle_open_->energy += split_.machine.total();
    if (idle_open_->end - idle_open_->start >= config_.idle_record_max) close_idle();
  }
}

void Engine::close_idle() {
  if (!idle_open_) return;
  if (idle_open_->end > idle_open_->start) outbox_.idle.push_back(*idle_open_);
  idle_open_.reset();
}

void Engine::end_gone_jobs() {
  if (gone_.empty()) return;
  const auto now = to_timestamp(clock_.wall());
  // By key, back to front: ending a gone job also ends its sub-records, which moves indices.
  std::vector<JobKey> keys;
  for (auto it = gone_.rbegin(); it != gone_.rend(); ++it) keys.push_back(jobs_[*it].job.key);
  gone_.clear();
  const std::vector<std::string> note = {
      "the job's processes (or cgroup) disappeared without a job_end message; charged up to the "
      "boundary that found it"};
  for (const JobKey& key : keys) {
    const auto it = std::find_if(jobs_.begin(), jobs_.end(),
                                 [&](const JobState& j) { return j.job.key == key; });
    if (it == jobs_.end()) continue;  // a sub-record that ended with its gone parent
    recently_gone_.push_back(report_of(*it));
    if (recently_gone_.size() > 64) recently_gone_.pop_front();
    end_one(it, now, -1, note);
  }
}

void Engine::end_one(std::vector<JobState>::iterator it, ledger::Timestamp end, int exit_code,
                     const std::vector<std::string>& notes) {
  auto r = finish(*it, end, exit_code, notes);
  const JobKey key = it->job.key;
  const bool sub_record = it->parent.has_value();
  jobs_.erase(it);
  file(std::move(r), sub_record);
  if (!sub_record) end_subrecords(key, end);
}

void Engine::file(ledger::JobRecord record, bool sub_record) {
  if (!sub_record) {
    outbox_.jobs.push_back(std::move(record));
    return;
  }
  // A sub-record's energy is inside its parent's record: a step record, never a second charge.
  // One the ledger would refuse as a step (registered as step "job": a Prolog's registration
  // inside another job) could never be delivered; its energy is in its parent's record all the
  // same.
  if (ledger::invalid_step(record)) return;
  outbox_.steps.push_back(std::move(record));
}

void Engine::end_subrecords(const JobKey& parent, ledger::Timestamp end) {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (!it->parent || *it->parent != parent) {
      ++it;
      continue;
    }
    file(finish(*it, end, -1,
                {fmt::format("ended with its job ({} step {}), which ended first; its exit "
                             "code is unknown",
                             parent.job_id, parent.step)}),
         true);
    it = jobs_.erase(it);
  }
}

std::expected<void, Error> Engine::job_start(const JobStart& job,
                                             const std::optional<JobKey>& parent) {
  if (parent && !std::any_of(jobs_.begin(), jobs_.end(), [&](const JobState& j) {
        return j.job.key == *parent && !j.parent;
      })) {
    return std::unexpected(Error{"unknown_job", fmt::format("unknown job {} step {} (parent)",
                                                            parent->job_id, parent->step)});
  }
  for (const auto& j : jobs_) {
    if (j.job.key == job.key) {
      return std::unexpected(
          Error{"invalid_field",
                fmt::format("job {} step {} is already registered", job.key.job_id, job.key.step)});
    }
  }
  // GPUs given by node-level index become UUIDs here (the agent knows its GPUs).
  JobStart resolved = job;
  for (std::size_t i = 0; i < job.gpu_indices.size(); ++i) {
    const auto g = std::find_if(config_.gpus.begin(), config_.gpus.end(), [&](const auto& info) {
      return info.nvml_index == job.gpu_indices[i];
    });
    if (g == config_.gpus.end()) {
      return std::unexpected(
          Error{"invalid_field",
                fmt::format("gpu_indices[{}]: this node has no GPU {}", i, job.gpu_indices[i])});
    }
    if (std::find(resolved.gpus.begin(), resolved.gpus.end(), g->uuid) == resolved.gpus.end()) {
      resolved.gpus.push_back(g->uuid);
    }
  }
  resolved.gpu_indices.clear();
  const auto counters = usage_(resolved);
  if (!counters && counters.error().gone) {
    return std::unexpected(Error{"invalid_field", counters.error().message});
  }
  boundary();
  if (!parent) close_idle();
  JobState state;
  state.job = std::move(resolved);
  state.parent = parent;
  state.start = to_timestamp(clock_.wall());
  if (counters) state.last_cpu = counters->cpu_time;
  jobs_.push_back(std::move(state));
  return {};
}

std::expected<JobReport, Error> Engine::job_end(const JobEnd& end) {
  const auto has_key = [&](const JobState& j) { return j.job.key == end.key; };
  if (std::find_if(jobs_.begin(), jobs_.end(), has_key) == jobs_.end()) {
    // Ended at a boundary already (its processes or cgroup were gone before the message came):
    // answer with what it was charged. The exit code goes into the record only while the
    // record is still in the outbox; once spooled it stays -1 (unknown).
    for (const auto& rep : recently_gone_) {
      if (rep.key != end.key) continue;
      for (auto* records : {&outbox_.jobs, &outbox_.steps}) {
        for (auto& r : *records) {
          if (r.cluster == end.key.cluster && r.job_id == end.key.job_id &&
              ledger::to_us(r.submit_time) == end.key.submit_time_us && r.step == end.key.step) {
            r.exit_code = static_cast<int>(end.exit_code);
          }
        }
      }
      return rep;
    }
    return std::unexpected(
        Error{"unknown_job", fmt::format("unknown job {} step {}", end.key.job_id, end.key.step)});
  }
  boundary();  // the job is still charged up to now
  const auto it = std::find_if(jobs_.begin(), jobs_.end(), has_key);
  if (it == jobs_.end()) return job_end(end);  // the boundary found it gone
  JobReport rep = report_of(*it);
  const auto at = end.end_time_us > 0 ? std::max(ledger::from_us(end.end_time_us), it->start)
                                      : to_timestamp(clock_.wall());
  end_one(it, at, static_cast<int>(end.exit_code), {});
  return rep;
}

namespace {

DomainsUj domains_of(const attribution::DomainEnergy& e) {
  return DomainsUj{e[Domain::kGpu],  e[Domain::kCpuPackage],   e[Domain::kDram],
                   e[Domain::kNode], e[Domain::kEstimatedCpu], e[Domain::kEstimatedMemory]};
}

}  // namespace

JobReport Engine::report_of(const JobState& j) const {
  JobReport r;
  r.key = j.job.key;
  r.parent = j.parent;
  r.charged = domains_of(j.charged);
  r.machine = domains_of(j.machine);
  r.unallocated = domains_of(j.unallocated);
  r.cpu_time_us = std::chrono::duration_cast<std::chrono::microseconds>(j.cpu_time).count();
  r.co2_kg = std::max(0.0, j.co2_kg);
  r.pue = std::clamp(carbon_.pue, 1.0, 3.0);
  const double facility_kwh = static_cast<double>(j.charged.total().value) * carbon_.pue / 3.6e12;
  r.kg_per_kwh =
      std::clamp(facility_kwh > 0 ? j.co2_kg / facility_kwh : carbon_.kg_per_kwh, 0.0, 2.0);
  return r;
}

ledger::JobRecord Engine::finish(JobState& job, ledger::Timestamp end, int exit_code,
                                 const std::vector<std::string>& notes) {
  ledger::JobRecord r;
  const JobStart& s = job.job;
  r.cluster = s.key.cluster;
  r.job_id = s.key.job_id;
  r.submit_time = ledger::from_us(s.key.submit_time_us);
  r.step = s.key.step;
  r.node = config_.node;
  r.user = s.user;
  r.account = s.account;
  r.tags = s.tags;
  r.start = job.start;
  r.end = std::max(end, job.start);
  r.exit_code = exit_code;
  r.energy = report::to_record_energy(job.charged);
  r.energy_charged = job.charged.total();
  r.machine_energy = job.machine.total();
  r.unallocated_energy = job.unallocated.total();
  r.method = report::method_of(job.charged);
  r.gpu_count = static_cast<int>(s.gpus.size());
  r.gpu_model = sensors::model_of(config_.gpus, s.gpus);
  const double seconds = std::chrono::duration<double>(r.end - r.start).count();
  r.cpus =
      s.exclusive ? config_.online_cpus : (seconds > 0 ? to_seconds(job.cpu_time) / seconds : 0);
  const double facility_kwh = static_cast<double>(job.charged.total().value) * carbon_.pue / 3.6e12;
  r.intensity_kg_per_kwh = facility_kwh > 0 ? job.co2_kg / facility_kwh : carbon_.kg_per_kwh;
  r.intensity_zone = carbon_.zone;
  r.intensity_dataset = carbon_.dataset;
  r.intensity_year = carbon_.year;
  r.pue = carbon_.pue;
  r.co2_kg = job.co2_kg;
  nlohmann::json j;
  j["measured_by"] = "jobcarbond";
  j["node"] = config_.node;
  j["exclusive"] = s.exclusive;
  j["gpus"] = s.gpus;
  j["cgroup"] = s.cgroup;
  j["cpu_time_s"] = to_seconds(job.cpu_time);
  j["energy_uj"] = {{"charged", domains_json(job.charged)},
                    {"machine", domains_json(job.machine)},
                    {"unallocated", domains_json(job.unallocated)}};
  j["co2_kg"] = job.co2_kg;
  if (job.parent) {
    // A step record: say whose share it is, so that nobody adds it to its job's figures.
    j["parent"] = {{"cluster", job.parent->cluster},
                   {"job_id", job.parent->job_id},
                   {"submit_time_us", job.parent->submit_time_us},
                   {"step", job.parent->step}};
    j["share_of_parent"] = "by CPU time; part of the parent's record, never charged again";
  }
  j["notes"] = notes;
  r.report_json = j.dump();
  return r;
}

std::optional<uid_t> Engine::job_owner(const JobKey& key) const {
  for (const auto& j : jobs_) {
    if (j.job.key == key) return static_cast<uid_t>(j.job.uid);
  }
  return std::nullopt;
}

StatusReply Engine::status() const {
  StatusReply reply;
  for (const auto& j : jobs_) {
    reply.jobs.push_back(
        RunningJob{j.job.key, j.job.user, j.job.uid, j.charged.total(), std::max(0.0, j.co2_kg)});
  }
  return reply;
}

std::vector<ledger::RunningRecord> Engine::running_records() const {
  std::vector<ledger::RunningRecord> out;
  const auto now = to_timestamp(clock_.wall());
  for (const auto& j : jobs_) {
    if (j.parent) continue;  // charged through its parent
    ledger::RunningRecord r;
    r.cluster = j.job.key.cluster;
    r.job_id = j.job.key.job_id;
    r.submit_time = ledger::from_us(j.job.key.submit_time_us);
    r.step = j.job.key.step;
    r.node = config_.node;
    r.user = j.job.user;
    r.account = j.job.account;
    r.start = j.start;
    r.updated = std::max(now, j.start);
    r.energy_charged = j.charged.total();
    r.co2_kg = j.co2_kg;
    r.gpu_count = static_cast<int>(j.job.gpus.size());
    r.gpu_model = sensors::model_of(config_.gpus, j.job.gpus);
    out.push_back(std::move(r));
  }
  return out;
}

MetricsSnapshot Engine::metrics() const {
  MetricsSnapshot m;
  const auto& chans = meter_.channels();
  for (std::size_t c = 0; c < chans.size(); ++c) {
    const auto& st = meter_.states()[c];
    ChannelMetrics cm;
    cm.sensor = meter_.channel_sensor()[c];
    cm.channel = chans[c].id;
    cm.domain = chans[c].domain;
    cm.label = chans[c].label;
    cm.energy = st.total;
    if (st.covered.count() > 0) cm.power = st.last_power;
    m.channels.push_back(std::move(cm));
  }
  for (const auto& j : jobs_) {
    if (j.parent) continue;  // its energy is inside its parent's series
    m.jobs.push_back(JobMetrics{j.job.key.cluster, j.job.key.job_id, j.job.key.step, j.job.user,
                                j.job.account, j.charged.total(), KgCo2{j.co2_kg}});
  }
  // One entry per sensor, in the meter's order; errors summed over its channels.
  for (std::size_t s = 0; s < meter_.sensor_count(); ++s) {
    SensorMetrics sm;
    std::uint64_t errors = 0;
    for (std::size_t c = 0; c < chans.size(); ++c) {
      if (meter_.sensor_of_channel(c) != s) continue;
      if (sm.sensor.empty()) sm.sensor = meter_.channel_sensor()[c];
      errors += static_cast<std::uint64_t>(meter_.states()[c].errors);
    }
    if (sm.sensor.empty()) continue;
    sm.up = meter_.last_read_ok()[s];
    sm.last_read_duration = meter_.last_read_durations()[s];
    sm.read_errors = errors;
    // Two sensors of one kind (two hwmon chips) show as one series: the sum of errors, down if
    // either is down, the slower read.
    if (auto it = std::find_if(m.sensors.begin(), m.sensors.end(),
                               [&](const SensorMetrics& o) { return o.sensor == sm.sensor; });
        it != m.sensors.end()) {
      it->up = it->up && sm.up;
      it->read_errors += sm.read_errors;
      it->last_read_duration = std::max(it->last_read_duration, sm.last_read_duration);
      continue;
    }
    m.sensors.push_back(std::move(sm));
  }
  for (const Domain d : kDomains) {
    const bool present = std::any_of(chans.begin(), chans.end(), [&](const sensors::Channel& c) {
      return c.domain == d && c.additive;
    });
    if (!present) continue;
    m.unallocated.push_back(agent::DomainEnergy{d, unallocated_total_[d]});
    m.idle.push_back(agent::DomainEnergy{d, idle_total_[d]});
  }
  return m;
}

JournalState Engine::journal() const {
  JournalState j;
  j.boot_id = boot_id_;
  const auto& chans = meter_.channels();
  for (std::size_t c = 0; c < chans.size(); ++c) {
    const auto& st = meter_.states()[c];
    if (chans[c].kind != sensors::ChannelKind::kEnergyCounter || !st.have_previous) continue;
    j.readings.push_back(SavedReading{chans[c].id, st.previous});
  }
  // The boundary's time: counters were last read there. When power-only channels were read
  // since, pending_ starts at the boundary.
  const os::MonoTime at = have_pending_ ? pending_.start : boundary_time_;
  const os::WallTime wall_at = have_pending_ ? pending_.wall_start : boundary_wall_;
  j.mono_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  j.wall_us = to_timestamp(wall_at).time_since_epoch().count();
  j.machine_busy = last_busy_;
  j.jobs = jobs_;
  j.idle_open = idle_open_;
  j.pending_jobs = outbox_.jobs;
  j.pending_idle = outbox_.idle;
  j.pending_steps = outbox_.steps;
  return j;
}

}  // namespace jobcarbon::agent
