#include <jobcarbon/os/child_process.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string_view>
#include <utility>

#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace jobcarbon::os {

namespace {

sigset_t supervised_set() {
  sigset_t set;
  sigemptyset(&set);
  for (const int s : kForwardedSignals) sigaddset(&set, s);
  sigaddset(&set, SIGCHLD);
  return set;
}

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// Return the file execvp would have tried for command: itself when it has a '/', else the first
// PATH entry where it exists; "" when there is no such regular file.
std::string locate(const std::string& command) {
  auto is_file = [](const std::string& file) {
    struct stat st;
    return ::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  };
  if (command.find('/') != std::string::npos) return is_file(command) ? command : std::string();
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/bin:/usr/bin";
  while (!command.empty()) {
    const auto colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    std::string file = (dir.empty() ? std::string(".") : std::string(dir)) + "/" + command;
    if (is_file(file)) return file;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return {};
}

// Return the interpreter named on the "#!" line of file, or "" when it has none.
std::string interpreter_of(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::string line;
  if (!std::getline(in, line) || !line.starts_with("#!")) return {};
  const auto begin = line.find_first_not_of(" \t", 2);
  if (begin == std::string::npos) return {};
  return line.substr(begin, line.find_first_of(" \t\r", begin) - begin);
}

// Return the failure a shell would report for a command that posix_spawn could not start.
SpawnFailure spawn_failure(const std::string& command, int err) {
  const bool has_slash = command.find('/') != std::string::npos;
  if (err == ENOENT) {
    const std::string file = locate(command);
    if (file.empty()) {
      // bash: "cmd: command not found" after a PATH search, the errno text for a path.
      return {127, "jobcarbon: " + command +
                       (has_slash ? ": No such file or directory" : ": command not found")};
    }
    // The file is there: what is missing is its "#!" interpreter or its ELF loader.
    const std::string interpreter = interpreter_of(file);
    return {127, "jobcarbon: " + command +
                     (interpreter.empty()
                          ? ": cannot execute: required file not found"
                          : ": " + interpreter + ": bad interpreter: No such file or directory")};
  }
  struct stat st;
  if (err == EACCES && has_slash && ::stat(command.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return {126, "jobcarbon: " + command + ": Is a directory"};
  }
  // EACCES, ENOEXEC, ETXTBSY, E2BIG...: the file is there but could not be run.
  return {126, "jobcarbon: " + command + ": " + std::strerror(err)};
}

// Return jobcarbon's environment with extra ("NAME=VALUE") added, replacing same-named entries.
std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  auto name_of = [](std::string_view entry) { return entry.substr(0, entry.find('=')); };
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& x) {
      return name_of(x) == name_of(entry);
    });
    if (!replaced) env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

ExitStatus exit_status_of(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    return {128 + WTERMSIG(wait_status), WTERMSIG(wait_status)};
  }
  return {WEXITSTATUS(wait_status), 0};
}

}  // namespace

std::expected<void, std::string> become_subreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    return std::unexpected(errno_text("prctl(PR_SET_CHILD_SUBREAPER)"));
  }
  return {};
}

std::expected<void, std::string> block_supervised_signals() {
  const sigset_t set = supervised_set();
  if (const int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); err != 0) {
    return std::unexpected(std::string("pthread_sigmask: ") + std::strerror(err));
  }
  struct sigaction old {};
  if (::sigaction(SIGCHLD, nullptr, &old) == 0 &&
      (old.sa_handler == SIG_IGN || (old.sa_flags & SA_NOCLDWAIT) != 0)) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    if (::sigaction(SIGCHLD, &dfl, nullptr) != 0) {
      return std::unexpected(errno_text("sigaction(SIGCHLD)"));
    }
  }
  return {};
}

bool should_forward(int signo, int si_code, pid_t sender, pid_t child) {
  const bool supervised = std::find(kForwardedSignals.begin(), kForwardedSignals.end(), signo) !=
                          kForwardedSignals.end();
  return supervised && si_code != SI_KERNEL && sender != child;
}

std::expected<ChildProcess, SpawnFailure> ChildProcess::spawn(
    const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  if (argv.empty()) return std::unexpected(SpawnFailure{127, "jobcarbon: no command to run"});
  if (auto blocked = block_supervised_signals(); !blocked) {
    return std::unexpected(SpawnFailure{126, "jobcarbon: " + blocked.error()});
  }
  // Opened before the spawn, so a SIGCHLD or a signal that arrives at once is not missed.
  const sigset_t set = supervised_set();
  const int sfd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) return std::unexpected(SpawnFailure{126, "jobcarbon: " + errno_text("signalfd")});

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  // Default dispositions for all, except what nohup or a non-interactive shell's `&` set to
  // SIG_IGN on purpose for the whole job.
  sigset_t defaults;
  sigfillset(&defaults);
  for (const int s : {SIGHUP, SIGINT, SIGQUIT}) {
    struct sigaction current {};
    if (::sigaction(s, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) {
      sigdelset(&defaults, s);
    }
  }
  posix_spawnattr_setsigdefault(&attr, &defaults);
  // No POSIX_SPAWN_SETPGROUP: the command stays in our process group, the terminal's foreground.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> args = argv;
  std::vector<std::string> env = child_environment(extra_env);
  std::vector<char*> arg_ptrs = pointers_to(args);
  std::vector<char*> env_ptrs = pointers_to(env);
  // glibc's posix_spawnp (clone(CLONE_VFORK)) returns the child's execve errno, searching PATH
  // as execvp does (EACCES in one directory does not stop the search), so no CLOEXEC pipe is
  // needed. Unlike execvp it does not hand a file without "#!" to /bin/sh: that is ENOEXEC, 126.
  pid_t pid = -1;
  const int err =
      ::posix_spawnp(&pid, args[0].c_str(), nullptr, &attr, arg_ptrs.data(), env_ptrs.data());
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    ::close(sfd);
    return std::unexpected(spawn_failure(argv[0], err));
  }
  return ChildProcess(pid, sfd);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      signal_fd_(std::exchange(other.signal_fd_, -1)),
      status_(std::exchange(other.status_, std::nullopt)),
      exit_reported_(other.exit_reported_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (signal_fd_ >= 0) ::close(signal_fd_);
    pid_ = std::exchange(other.pid_, -1);
    signal_fd_ = std::exchange(other.signal_fd_, -1);
    status_ = std::exchange(other.status_, std::nullopt);
    exit_reported_ = other.exit_reported_;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (signal_fd_ < 0) return;
  // Blocked signals stay pending after the fd closes; read them now so a later ChildProcess
  // does not forward a signal meant for this one.
  signalfd_siginfo buf[8];
  while (::read(signal_fd_, buf, sizeof buf) > 0) {
  }
  ::close(signal_fd_);
}

bool ChildProcess::reap() {
  bool found = false;
  for (;;) {
    int wait_status = 0;
    // __WALL: also children whose exit signal is not SIGCHLD (clone() users).
    const pid_t p = ::waitpid(-1, &wait_status, WNOHANG | __WALL);
    if (p < 0 && errno == EINTR) continue;
    if (p <= 0) break;  // 0: children left, none exited; -1 ECHILD: no children
    if (p == pid_ && !status_) {
      status_ = exit_status_of(wait_status);
      found = true;
    }
  }
  return found;
}

std::optional<WaitEvent> ChildProcess::drain_signals() {
  std::optional<WaitEvent> event;
  signalfd_siginfo buf[8];
  for (;;) {
    const ssize_t n = ::read(signal_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: nothing left
    for (std::size_t i = 0; i < static_cast<std::size_t>(n) / sizeof buf[0]; ++i) {
      const auto signo = static_cast<int>(buf[i].ssi_signo);
      if (signo == SIGCHLD) continue;  // only a wake-up: reap() asks waitpid
      // Never signal a reaped command: its pid may already belong to another process.
      const bool forward = !status_ && should_forward(signo, buf[i].ssi_code,
                                                      static_cast<pid_t>(buf[i].ssi_pid), pid_);
      if (forward) ::kill(pid_, signo);
      event = WaitEvent{WaitEvent::Kind::signal, signo, forward};
    }
  }
  return event;
}

WaitEvent ChildProcess::wait(Duration timeout) {
  using Clock = std::chrono::steady_clock;
  // Capped so that Duration::max() means "no timeout" instead of overflowing the deadline.
  const auto deadline = Clock::now() + std::min(timeout, Duration(std::chrono::hours(24 * 365)));
  std::optional<WaitEvent> signal_event;
  for (;;) {
    reap();
    if (status_ && !exit_reported_) {
      exit_reported_ = true;
      WaitEvent exited = signal_event.value_or(WaitEvent{});
      exited.kind = WaitEvent::Kind::exited;
      return exited;
    }
    if (signal_event) return *signal_event;
    const auto remaining = deadline - Clock::now();
    if (remaining <= Duration::zero()) return WaitEvent{};
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(remaining).count();
    const timespec ts{static_cast<time_t>(ns / 1'000'000'000),
                      static_cast<long>(ns % 1'000'000'000)};
    pollfd pfd{signal_fd_, POLLIN, 0};
    const int r = ::ppoll(&pfd, 1, &ts, nullptr);
    if (r > 0) signal_event = drain_signals();
    // r == 0 (timeout) or EINTR (stopped and continued by SIGTSTP/SIGCONT): loop and re-check.
  }
}

bool ChildProcess::send_signal(int signo) const {
  if (status_ || pid_ <= 0) return false;
  return ::kill(pid_, signo) == 0;
}

bool ChildProcess::descendants_alive() {
  reap();
  siginfo_t info{};
  // WNOWAIT: only ask. ECHILD means no child at all, and as subreaper no descendant either.
  return ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0;
}

}  // namespace jobcarbon::os
