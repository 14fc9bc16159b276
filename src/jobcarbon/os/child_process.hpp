// Starting the user's command and supervising it: exit status as a shell reports it, signals
// passed on, every exited descendant reaped. The signal policy is in docs/process-tracking.md.
//
// Typical use (jobcarbon run):
//   become_subreaper();                       // orphans of the command stay our descendants
//   block_supervised_signals();               // first thing in main, before any thread exists
//   auto child = ChildProcess::spawn(argv);   // error: print message, exit with exit_code
//   while (child->wait(interval).kind != WaitEvent::Kind::exited) sample();
//   return child->exit_status()->code;
#pragma once

#include <sys/types.h>

#include <array>
#include <csignal>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::os {

// The signals jobcarbon passes on to the command. SIGQUIT is here too, though the issue names only
// the first five: Ctrl-\ must not kill jobcarbon (core dump, no report) while the command lives.
inline constexpr std::array<int, 6> kForwardedSignals = {SIGINT,  SIGTERM, SIGHUP,
                                                         SIGUSR1, SIGUSR2, SIGQUIT};

// Make this process a child subreaper (prctl PR_SET_CHILD_SUBREAPER): a descendant whose parent
// exits (a daemon that double-forks, a worker left behind) is re-parented to us instead of init,
// so it stays in the process tree that is charged and is reaped by wait(). Return an error
// message when the kernel refuses (it does not on Linux >= 3.4).
std::expected<void, std::string> become_subreaper();

// Block kForwardedSignals and SIGCHLD in the calling thread, and give SIGCHLD its default
// disposition (an inherited SIG_IGN would make the kernel discard our children's exit status).
// Blocked signals wait for ChildProcess::wait() to read them from a signalfd. Call it in main
// before any thread is started: threads inherit the mask, and a thread that did not block them
// would take the signals with their default action (SIGTERM would kill jobcarbon). Idempotent.
std::expected<void, std::string> block_supervised_signals();

// Return whether a signal that reached jobcarbon must be sent on to the command.
// signo: the signal; si_code: how it was generated (siginfo_t::si_code); sender: si_pid;
// child: the command's pid. Only signals in kForwardedSignals are forwarded, and of those not:
//  - si_code SI_KERNEL: the terminal driver sent it (Ctrl-C, Ctrl-\, hangup) to the whole
//    foreground process group, which the command is in; sending it again would deliver it twice
//    (a second SIGINT makes PyTorch and many training scripts abort their graceful shutdown);
//  - sender == child: the command signalled its own process group (kill 0), or us on purpose.
// Anything sent with kill()/sigqueue()/tgkill() by another process (Slurm, `kill -USR1 PID`,
// a job scheduler's checkpoint signal) is forwarded.
bool should_forward(int signo, int si_code, pid_t sender, pid_t child);

// Why a command could not be started, as a shell would report it.
struct SpawnFailure {
  int exit_code = 127;  // 127: not found; 126: found but could not be executed
  std::string message;  // "jobcarbon: python4: command not found"
};

// How the command ended, as a shell reports it in $?.
struct ExitStatus {
  int code = 0;    // the exit code, or 128 + signal when a signal killed it
  int signal = 0;  // the signal that killed it, 0 when it exited
};

// What ended a wait().
struct WaitEvent {
  enum class Kind { timeout, signal, exited };
  Kind kind = Kind::timeout;
  int signal = 0;          // for Kind::signal: the last signal jobcarbon received
  bool forwarded = false;  // for Kind::signal: whether it was sent on to the command
};

// The command jobcarbon runs, and the signalfd through which it watches it. Move-only.
class ChildProcess {
 public:
  // Start argv[0] with arguments argv, searched in PATH like execvp when it has no '/', with
  // jobcarbon's environment plus extra_env ("NAME=VALUE"; a name already set is replaced).
  // The command keeps jobcarbon's process group and terminal (it stays the foreground job),
  // stdin/stdout/stderr and any other inherited descriptors; it starts with an empty signal mask
  // and default signal dispositions, except SIGHUP/SIGINT/SIGQUIT stay ignored when jobcarbon
  // inherited them ignored (nohup, a background job of a script). Calls
  // block_supervised_signals(). Return the failure with 127 when the command is not found and 126
  // when it cannot be executed (permission, a directory, not an executable format).
  static std::expected<ChildProcess, SpawnFailure> spawn(
      const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {});

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Close the signalfd, discarding signals still pending. A command still running is left
  // running (it is the user's work); the mask set by block_supervised_signals() stays.
  ~ChildProcess();

  // Return the command's pid.
  pid_t pid() const { return pid_; }

  // Wait until timeout elapses, a supervised signal arrives (forwarded or not, see
  // should_forward), or the command exits, whichever comes first. Reaps every exited child of
  // this process without blocking: the command, and the orphans re-parented to us as subreaper
  // (so their CPU time moves into our RUSAGE_CHILDREN, see process_tree.hpp). Kind::exited is
  // returned once, by the call that sees the command end; later calls go on reaping orphans.
  // Takes over every child of this process: do not run other children beside it.
  WaitEvent wait(Duration timeout);

  // Return how the command ended, or nullopt while it runs.
  const std::optional<ExitStatus>& exit_status() const { return status_; }

  // Send signo to the command (e.g. a checkpoint signal from a budget policy). Return false when
  // the command has already been reaped (its pid may belong to someone else now) or kill fails.
  bool send_signal(int signo) const;

  // Return whether any descendant of this process is still alive, the command included: after
  // the command exits, daemonised grandchildren may still run. Reaps exited ones first. Only
  // meaningful after become_subreaper(); without it orphans belong to init and are not seen.
  bool descendants_alive();

 private:
  ChildProcess(pid_t pid, int signal_fd) : pid_(pid), signal_fd_(signal_fd) {}
  // Reap every exited child; return true when the command was among them.
  bool reap();
  // Read the pending signals and forward those that must be; return the last one seen.
  std::optional<WaitEvent> drain_signals();

  pid_t pid_ = -1;
  int signal_fd_ = -1;
  std::optional<ExitStatus> status_;
  bool exit_reported_ = false;
};

}  // namespace jobcarbon::os
