#include <slurm_plugin/bounded_run.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace jobcarbon::slurm_plugin {

namespace {

constexpr std::size_t kMaxOutput = 64 * 1024;

void close_pair(int fds[2]) {
  for (int i = 0; i < 2; ++i) {
    if (fds[i] >= 0) ::close(fds[i]);
    fds[i] = -1;
  }
}

int shell_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

RunResult run_bounded(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      std::chrono::milliseconds timeout) noexcept {
  RunResult r;
  try {
    if (argv.empty()) {
      r.problem = "nothing to run";
      return r;
    }
    // Everything the child needs is built before fork: between fork and execve it may only make
    // async-signal-safe calls (slurmstepd has threads).
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    int out[2] = {-1, -1};
    int err[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      r.problem = std::string("pipe: ") + std::strerror(errno);
      close_pair(out);
      close_pair(err);
      return r;
    }
    const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t pid = ::fork();
    if (pid < 0) {
      r.problem = std::string("fork: ") + std::strerror(errno);
      close_pair(out);
      close_pair(err);
      if (devnull >= 0) ::close(devnull);
      return r;
    }
    if (pid == 0) {
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      if (devnull >= 0) ::dup2(devnull, 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      ::close_range(3, ~0U, 0);
      ::execve(args[0], args.data(), envp.data());
      static constexpr char kMsg[] = "cannot execute the jobcarbon program\n";
      [[maybe_unused]] const auto n = ::write(2, kMsg, sizeof kMsg - 1);
      ::_exit(127);
    }
    if (devnull >= 0) ::close(devnull);
    ::close(out[1]);
    ::close(err[1]);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto left_ms = [&] {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      return static_cast<int>(std::max<std::int64_t>(0, left.count()));
    };
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    int open_fds = 2;
    while (open_fds > 0) {
      const int wait_ms = left_ms();
      if (wait_ms == 0) break;
      const int n = ::poll(fds, 2, wait_ms);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        char buf[4096];
        const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
          if (sinks[i]->size() < kMaxOutput) sinks[i]->append(buf, static_cast<std::size_t>(got));
        } else if (got == 0 || errno != EINTR) {
          ::close(fds[i].fd);
          fds[i].fd = -1;
          --open_fds;
        }
      }
    }
    for (auto& f : fds) {
      if (f.fd >= 0) ::close(f.fd);
    }
    // The output is closed (or the time is up): reap it, waiting out what is left of the time.
    for (;;) {
      int status = 0;
      const pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        r.finished = true;
        r.exit_code = shell_status(status);
        break;
      }
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {  // reaped by someone else (ECHILD): it has exited
        r.finished = true;
        break;
      }
      if (left_ms() == 0) {
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        r.problem = "no answer within " + std::to_string(timeout.count()) + " ms; killed";
        break;
      }
      ::usleep(2000);
    }
  } catch (...) {
    r.problem = "out of memory";
  }
  return r;
}

}  // namespace jobcarbon::slurm_plugin
