// The node agent's core: one meter for the whole node, the jobs that run on it, and the split of
// every interval's energy among them (attribution::Attributor), with what no job used kept as
// unallocated and, when no job ran at all, as idle. No sockets, files or threads here: the daemon
// (src/jobcarbon/daemon) drives it on a timer and on socket events, persists journal() after
// each boundary and delivers the finished records; tests drive it with a FakeClock and scripted
// sensors. docs/agent-design.md explains the choices.
#pragma once

#include <deque>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <jobcarbon/agent/metrics.hpp>
#include <jobcarbon/agent/protocol.hpp>
#include <jobcarbon/attribution/attributor.hpp>
#include <jobcarbon/energy/meter.hpp>
#include <jobcarbon/ledger/job_record.hpp>
#include <jobcarbon/os/clock.hpp>
#include <jobcarbon/os/machine.hpp>
#include <jobcarbon/sensors/nvml_sensor.hpp>

namespace jobcarbon::agent {

// Where the carbon figures come from: the kg CO2 of IT energy over a wall-clock span (PUE and the
// intensity in force then, e.g. an hourly series), and what the records say about it.
struct CarbonModel {
  std::function<double(Microjoules it_energy, os::WallTime start, os::WallTime end)> co2_kg;
  double pue = 1.0;
  double kg_per_kwh = 0;  // the nominal intensity (records use the energy-weighted mean)
  std::string zone;
  std::string dataset;
  int year = 0;
};

struct EngineConfig {
  std::string node;               // this node's name in the ledger
  std::string cluster = "local";  // for idle records
  int online_cpus = 1;
  std::vector<sensors::GpuInfo> gpus;  // the node's GPUs (names for the records)
  // An idle period is closed into a NodeIdle record when a job starts or when it is this long.
  Duration idle_record_max{std::chrono::hours(1)};
};

// A job's cumulative usage, as its cgroup or process tree shows it at a boundary.
struct JobCounters {
  Duration cpu_time{0};
  std::int64_t memory_bytes = 0;
};

// Why a job's usage could not be read. gone: its cgroup or processes no longer exist (the job
// ended without telling the agent: it is ended at the boundary with what it was charged so far).
struct UsageError {
  bool gone = false;
  std::string message;
};

using UsageReader = std::function<std::expected<JobCounters, UsageError>(const JobStart&)>;

// One running job as the agent keeps it (and journals it).
struct JobState {
  JobStart job;
  ledger::Timestamp start;                // wall clock when it was registered
  attribution::DomainEnergy charged;      // attributed to it so far
  attribution::DomainEnergy machine;      // the whole node over its lifetime so far
  attribution::DomainEnergy unallocated;  // what no job used over its lifetime so far
  Duration cpu_time{0};                   // CPU time attributed so far
  std::optional<Duration> last_cpu;       // cumulative CPU time at the last boundary
  double co2_kg = 0;
  // Set for a sub-record: a job registered inside this registered job (a Slurm step within its
  // job's Prolog registration, an experiment's `jobcarbon run` within a Slurm job). It takes no
  // part in the node's attribution: its energy is its share of the parent's, by CPU time, and it
  // is never charged on its own (its record is a step record: Outbox::steps).
  std::optional<JobKey> parent;
  bool operator==(const JobState&) const = default;
};

// A counter channel's last good reading at the last boundary.
struct SavedReading {
  std::string channel;  // Channel::id
  std::int64_t value = 0;
  bool operator==(const SavedReading&) const = default;
};

// What the agent must find again after a crash or restart to go on without losing or double
// counting: written (durably) after every boundary, read at start.
struct JournalState {
  std::string boot_id;       // /proc/sys/kernel/random/boot_id: counters restart at boot
  std::int64_t mono_ns = 0;  // CLOCK_MONOTONIC at the last boundary
  std::int64_t wall_us = 0;  // wall clock at the last boundary
  std::vector<SavedReading> readings;
  std::optional<Duration> machine_busy;  // /proc/stat busy CPU time at the last boundary
  std::vector<JobState> jobs;
  std::optional<ledger::NodeIdle> idle_open;     // the idle period still open
  std::vector<ledger::JobRecord> pending_jobs;   // finished, not yet known to be spooled
  std::vector<ledger::NodeIdle> pending_idle;    // closed, not yet known to be spooled
  std::vector<ledger::JobRecord> pending_steps;  // sub-records' records, not yet spooled
  bool operator==(const JournalState&) const = default;
};

// What a boundary produced for the daemon to deliver (spool, then ledger).
struct Outbox {
  std::vector<ledger::JobRecord> jobs;  // top-level jobs: Store::append (they count)
  std::vector<ledger::NodeIdle> idle;
  // Ended sub-records: Store::append_step, never append. Each is a share of its parent's record
  // (its own key and step, its charged share, CO2, start, end and exit code; report_json names
  // the parent), so it must never be counted in budgets, usage or reports.
  std::vector<ledger::JobRecord> steps;
  bool empty() const { return jobs.empty() && idle.empty() && steps.empty(); }
};

class Engine {
 public:
  // meter, clock, machine and the reader must outlive the engine.
  Engine(energy::Meter& meter, const os::Clock& clock, const os::Machine& machine,
         EngineConfig config, UsageReader usage, CarbonModel carbon);

  // Take the first readings, or continue from a journal: with the same boot id the counters go
  // on from the saved readings (the energy of the time the agent was down is measured and
  // attributed by the jobs' cumulative CPU time), and jobs and totals continue. After a reboot
  // (another boot id) the counters restarted: the journal's jobs are ended at the journal's time
  // with what they were charged (the rest cannot be known) and their records go to the outbox
  // (sub-records' to its steps). Returns notes for the log.
  std::vector<std::string> start(const std::optional<JournalState>& journal,
                                 const std::string& boot_id);

  // Read the power-only sensors (cheap; the live power). Energy is attributed at the next
  // boundary.
  void sample_power();
  // A boundary: read every sensor and attribute everything since the last boundary.
  void boundary();

  // Register a job (after a boundary, so that it is charged from now on). An already registered
  // key is an error ("invalid_field"). With parent, the job is a sub-record of that registered
  // top-level job (see JobState::parent).
  std::expected<void, Error> job_start(const JobStart& job,
                                       const std::optional<JobKey>& parent = std::nullopt);
  // End a job (after a boundary that still charges it) and return what it was charged; a
  // top-level job's record goes to the outbox's jobs, a sub-record's to its steps (its energy is
  // a share of its parent's). Sub-records of an ended job end with it, at its end time, with exit
  // code -1 (unknown: no end message of their own), into the steps; so do those of a job whose
  // processes or cgroup a boundary found gone.
  std::expected<JobReport, Error> job_end(const JobEnd& end);

  // Return the uid of a registered job, for authorization.
  std::optional<uid_t> job_owner(const JobKey& key) const;
  // Return the running jobs with their energy and CO2 so far.
  StatusReply status() const;
  // Return the running jobs' provisional usage for the ledger.
  std::vector<ledger::RunningRecord> running_records() const;
  // Return what /metrics shows (process metrics are the caller's).
  MetricsSnapshot metrics() const;
  // Return the state to journal (valid at any time: counters are only read at boundaries).
  JournalState journal() const;

  // Return the records finished since the last clear_outbox() (still in journal() until then).
  const Outbox& outbox() const { return outbox_; }
  void clear_outbox() { outbox_ = {}; }

  const std::vector<JobState>& jobs() const { return jobs_; }
  // The node's totals since the agent started: machine, unallocated (incl. idle) and idle.
  const attribution::DomainEnergy& machine_total() const { return machine_total_; }
  const attribution::DomainEnergy& unallocated_total() const { return unallocated_total_; }
  const attribution::DomainEnergy& idle_total() const { return idle_total_; }

 private:
  void accumulate(const energy::Interval& iv);
  void attribute_pending();
  void end_gone_jobs();
  ledger::JobRecord finish(JobState& job, ledger::Timestamp end, int exit_code,
                           const std::vector<std::string>& notes);
  // End the job at IT (erased) with its record filed; a top-level job's sub-records end with it.
  void end_one(std::vector<JobState>::iterator it, ledger::Timestamp end, int exit_code,
               const std::vector<std::string>& notes);
  // Put a finished record in the outbox: a job's in jobs, a sub-record's in steps.
  void file(ledger::JobRecord record, bool sub_record);
  void end_subrecords(const JobKey& parent, ledger::Timestamp end);
  void close_idle();
  JobReport report_of(const JobState& job) const;

  energy::Meter& meter_;
  const os::Clock& clock_;
  const os::Machine& machine_;
  EngineConfig config_;
  UsageReader usage_;
  CarbonModel carbon_;
  attribution::Attributor attributor_;
  std::vector<bool> power_sensors_;  // per sensor: read by sample_power()

  std::vector<JobState> jobs_;
  std::vector<std::size_t> gone_;  // jobs whose usage reader said gone at the last boundary
  energy::Interval pending_;
  bool have_pending_ = false;
  std::optional<Duration> last_busy_;
  os::MonoTime boundary_time_{};  // when counters were last read
  os::WallTime boundary_wall_{};
  std::string boot_id_;
  std::optional<ledger::NodeIdle> idle_open_;
  Outbox outbox_;
  std::deque<JobReport> recently_gone_;  // ended at a boundary; a late job_end gets this
  attribution::DomainEnergy machine_total_;
  attribution::DomainEnergy unallocated_total_;
  attribution::DomainEnergy idle_total_;
  // Reused buffers.
  std::vector<attribution::JobUsage> usage_buf_;
  std::vector<std::optional<Duration>> cpu_now_;
  attribution::Attribution split_;
};

}  // namespace jobcarbon::agent
