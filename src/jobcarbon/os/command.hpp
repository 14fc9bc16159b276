// Running a helper program and reading what it printed: the enforcer's squeue / scancel /
// scontrol. Bounded in time and in output, so a hung or chatty command cannot stall the caller.
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <string>
#include <vector>

namespace jobcarbon::os {

// What a finished command left.
struct CommandResult {
  int exit_code = 0;  // as a shell reports it: the exit status, or 128 + the signal that killed it
  std::string out;    // its standard output (at most max_output bytes; the rest is discarded)
  std::string err;    // its standard error (likewise)
};

// Run ARGV (argv[0] searched in PATH when it has no '/') with stdin from /dev/null, collecting
// its stdout and stderr, and wait for it at most TIMEOUT: then kill it (SIGKILL) and return an
// error "ARGV0: no answer within T s". Error also when it cannot be started ("ARGV0: cannot run:
// No such file or directory"). A non-zero exit is not an error: the caller reads exit_code.
// The command inherits no descriptor beyond 0-2 and no blocked signal, and gets this process's
// environment, or exactly ENV ("NAME=value") when given: Slurm's plugin runs jobcarbon as root
// from inside a job and must not hand it the job's environment.
// Also compiled into spank_jobcarbon.so (src/slurm_plugin): it uses nothing but fmt.
std::expected<CommandResult, std::string> run_command(
    const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
    std::size_t max_output = std::size_t{1} << 20, const std::vector<std::string>* env = nullptr);

}  // namespace jobcarbon::os
