#include <jobcarbon/testing/unprivileged.hpp>

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <exception>

namespace jobcarbon::testing {

namespace {

// The child's side: run fn as nobody, write its result and exit without returning (a child that
// returned would go on to run the rest of the test binary).
[[noreturn]] void run_in_child(const std::function<std::string()>& fn, int out_fd) {
  std::string result;
  if (::geteuid() == 0 &&
      (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)) {
    result = "could not drop privileges";
  } else {
    try {
      result = fn();
    } catch (const std::exception& e) {
      result = std::string("exception: ") + e.what();
    }
  }
  std::size_t done = 0;
  while (done < result.size()) {
    const ssize_t n = ::write(out_fd, result.data() + done, result.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::_exit(done == result.size() ? 0 : 1);
}

}  // namespace

UnprivilegedRun run_unprivileged(const std::function<std::string()>& fn) {
  int fds[2];
  if (::pipe(fds) != 0) return {"pipe failed", -1};
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return {"fork failed", -1};
  }
  if (pid == 0) {
    ::close(fds[0]);
    run_in_child(fn, fds[1]);
  }
  ::close(fds[1]);
  UnprivilegedRun run;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    run.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  if (::waitpid(pid, &status, 0) == pid) run.wait_status = status;
  return run;
}

}  // namespace jobcarbon::testing
