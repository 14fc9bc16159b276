// Running `jobcarbon slurm-event` from slurmstepd: fork and execve with an environment the plugin
// builds (never the job's, which the user controls), stdout and stderr collected, bounded in time
// because slurmstepd waits meanwhile. Kept beside the plugin: the project's static libraries are
// not built as position-independent code, so the module cannot link jobcarbon_os.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace jobcarbon::slurm_plugin {

// What a run left.
struct RunResult {
  bool finished = false;  // the program exited (or was reaped by someone else) within the time
  int exit_code = -1;     // as a shell reports it (128 + signal); -1 when unknown
  std::string out;        // its stdout, at most 64 KiB
  std::string err;        // its stderr, at most 64 KiB
  std::string problem;    // why it did not finish: cannot start, no answer within the time
};

// Run ARGV (argv[0] an absolute path) with environment ENV ("NAME=value"), stdin from /dev/null,
// no other inherited descriptor and no blocked signal, and wait at most TIMEOUT for it to exit and
// close its output; then kill it (SIGKILL) and reap it. Never throws.
RunResult run_bounded(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      std::chrono::milliseconds timeout) noexcept;

}  // namespace jobcarbon::slurm_plugin
