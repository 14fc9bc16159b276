// The report of one metered run: what the job was charged, what the machine used, how each number
// was obtained, and its carbon. Pure data; renderers turn it into text (for people) and JSON
// (for notebooks and scripts) with the same numbers.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <jobcarbon/attribution/attributor.hpp>
#include <jobcarbon/os/clock.hpp>
#include <jobcarbon/report/work_done.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::report {

inline constexpr int kSchemaVersion = 1;

// One sensor channel as measured over the run (machine-wide, before attribution).
struct ChannelSummary {
  std::string id;
  std::string label;
  std::string sensor;  // "rapl", "nvml", "hwmon", "estimator"
  std::string domain;  // "gpu", "cpu", ...
  std::string method;  // "hardware energy counter" | "sampled power" | "estimate"
  bool additive = true;
  Microjoules energy;
  Microwatts average_power;
  Microwatts peak_power;
  double coverage = 0;  // measured time ÷ run duration
  std::int64_t errors = 0;
  std::int64_t wraps = 0;
  std::string last_error;
};

struct IntensityUsed {
  double kg_per_kwh = 0;
  std::string zone;
  std::string name;
  std::string dataset;
  int year = 0;
  std::string basis;
  std::string source;
  bool world_default = false;  // no zone configured: the world average was used
};

struct EquivalentValue {
  std::string key;   // stable JSON key, e.g. "household_days"
  std::string name;  // what it means, e.g. "household-days of electricity"
  double value = 0;
  std::string factor;  // e.g. "10 kWh per household-day"
  std::string source;
};

struct RunReport {
  std::string job_id;
  std::string host;
  std::string account;
  std::vector<std::string> command;
  int exit_code = 0;
  os::WallTime start;
  os::WallTime end;
  Duration duration{0};
  bool exclusive = false;
  std::string scope;  // one sentence: what the job was charged and why

  attribution::DomainEnergy charged;
  attribution::DomainEnergy machine;
  attribution::DomainEnergy unallocated;
  // How each domain was obtained, per domain index ("hardware energy counter", ...); empty when
  // the domain had no energy source.
  std::array<std::string, 7> domain_method;
  Microwatts peak_power;  // highest interval mean power charged to the job
  std::vector<ChannelSummary> channels;
  std::vector<std::string> gpus;  // "NVIDIA H100 (GPU-…)" the job was charged for
  double cpu_share = 0;           // mean share of the machine's CPU capacity used by the job
  Duration cpu_time{0};           // CPU time of the command's process tree (daemons included)

  std::string method;  // "measured" | "estimated" | "mixed"
  IntensityUsed intensity;
  double pue = 1.0;
  double facility_kwh = 0;  // charged energy × PUE
  double co2_kg = 0;
  std::optional<WorkDone> work;  // stated by the job (JOBCARBON_WORK_FILE) or --work
  std::vector<EquivalentValue> equivalents;
  std::vector<std::string> notes;  // unavailable sensors, estimates, defaults used
};

// Return "measured", "estimated" or "mixed" for energy charged per domain.
std::string method_of(const attribution::DomainEnergy& charged);

// Return the mean power charged over the run.
Microwatts average_power(const RunReport& r);

// Return the report as JSON (schema in docs/report-schema.md).
nlohmann::json to_json(const RunReport& r);

// Return the report as text for a terminal.
std::string render_text(const RunReport& r);

}  // namespace jobcarbon::report
