#include <jobcarbon/os/command.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

extern char** environ;

namespace jobcarbon::os {
namespace {

// Closes its descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Read what FD has now into OUT (up to MAX bytes kept); return false at end of file or error.
bool drain(int fd, std::string& out, std::size_t max) {
  std::array<char, 4096> buf{};
  const ssize_t n = ::read(fd, buf.data(), buf.size());
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  const auto keep = std::min(static_cast<std::size_t>(n), max - std::min(max, out.size()));
  out.append(buf.data(), keep);
  return true;
}

int shell_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

}  // namespace

std::expected<CommandResult, std::string> run_command(const std::vector<std::string>& argv,
                                                      std::chrono::milliseconds timeout,
                                                      std::size_t max_output,
                                                      const std::vector<std::string>* env) {
  if (argv.empty()) return std::unexpected("no command to run");
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    return std::unexpected(fmt::format("{}: cannot run: pipe: {}", argv[0], std::strerror(errno)));
  }
  Fd out_r{out_pipe[0]}, out_w{out_pipe[1]};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return std::unexpected(fmt::format("{}: cannot run: pipe: {}", argv[0], std::strerror(errno)));
  }
  Fd err_r{err_pipe[0]}, err_w{err_pipe[1]};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
  // Descriptors the caller left without O_CLOEXEC (slurmstepd's) are not the command's business.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> ptrs;
  for (const auto& a : argv) ptrs.push_back(const_cast<char*>(a.c_str()));
  ptrs.push_back(nullptr);
  std::vector<char*> env_ptrs;
  if (env != nullptr) {
    for (const auto& e : *env) env_ptrs.push_back(const_cast<char*>(e.c_str()));
    env_ptrs.push_back(nullptr);
  }
  pid_t pid = -1;
  const int spawn_err = ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, ptrs.data(),
                                       env != nullptr ? env_ptrs.data() : environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (spawn_err != 0) {
    return std::unexpected(fmt::format("{}: cannot run: {}", argv[0], std::strerror(spawn_err)));
  }
  // Our copies of the write ends must close, or the reads never see end of file.
  ::close(out_w.fd);
  out_w.fd = -1;
  ::close(err_w.fd);
  err_w.fd = -1;

  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true;
  bool timed_out = false;
  while (out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    std::array<pollfd, 2> fds{pollfd{out_open ? out_r.fd : -1, POLLIN, 0},
                              pollfd{err_open ? err_r.fd : -1, POLLIN, 0}};
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()) + 1);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      out_open = drain(out_r.fd, result.out, max_output);
    }
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      err_open = drain(err_r.fd, result.err, max_output);
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  // Both pipes closed: the command has exited or is about to (or it handed the pipes to a
  // daemonised child, which we do not wait for: the deadline still bounds the wait below).
  while (!timed_out) {
    const pid_t p = ::waitpid(pid, &status, WNOHANG);
    if (p == pid) break;
    if (p < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    ::usleep(1000);
  }
  if (timed_out) {
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return std::unexpected(fmt::format("{}: no answer within {:g} s", argv[0],
                                       static_cast<double>(timeout.count()) / 1000.0));
  }
  result.exit_code = shell_code(status);
  return result;
}

}  // namespace jobcarbon::os
