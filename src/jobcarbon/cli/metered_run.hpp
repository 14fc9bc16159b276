// `jobcarbon run`'s engine: starts the command, samples the meter until it ends, attributes each
// interval to the command's process tree, and returns the run's report. The caller resolves
// configuration and writes the results (ledger, JSON, text).
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <jobcarbon/energy/meter.hpp>
#include <jobcarbon/os/clock.hpp>
#include <jobcarbon/report/run_report.hpp>
#include <jobcarbon/sensors/registry.hpp>

namespace jobcarbon::cli {

// Carbon of one interval of charged energy, given its wall-clock span: the caller's footprint
// (fixed intensity or an hourly series) and PUE.
using CarbonOfInterval =
    std::function<double(Microjoules it_energy, os::WallTime start, os::WallTime end)>;

struct MeteredRunSetup {
  std::vector<std::string> command;
  sensors::Discovery discovery;       // sensors found; the meter takes the available ones
  std::vector<std::string> job_gpus;  // UUIDs charged to the job
  bool exclusive = false;
  Duration interval{std::chrono::seconds(1)};
  std::filesystem::path proc_root = "/proc";
  CarbonOfInterval carbon;    // kg CO2 of charged energy in one interval
  std::FILE* live = nullptr;  // where to draw the live line (a terminal), or null
};

struct MeteredRunResult {
  bool started = false;      // false: the command could not be started
  int exit_code = 0;         // the command's status as a shell reports it (127/126 if not started)
  std::string spawn_error;   // the shell-like message when not started
  report::RunReport report;  // filled when started
};

// Run the command under the meter. Blocks until the command exits; forwards signals to it.
MeteredRunResult metered_run(MeteredRunSetup setup, const os::Clock& clock);

}  // namespace jobcarbon::cli
