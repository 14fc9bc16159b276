// Helper of bench/startup.sh: run a command and write what it used, from wait4(2), as one JSON
// object: exit status, peak RSS (KiB), user and system CPU seconds, wall seconds.
//
// Why a program of its own: a child's ru_maxrss starts from its parent's resident size at fork,
// and keeps it across exec. Started from Python (~10 MiB resident), `jobcarbon run` would report
// Python's size, not its own. This parent is small (~1–2 MiB), and the peak of `jobcarbon run`
// is then the larger of jobcarbon's own and its command's (a `sleep`, ~1 MiB).
//
// Usage: run_usage OUT.json COMMAND [ARGS...]; exits with the command's status.
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

extern char** environ;

namespace {

double seconds(const timeval& t) {
  return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6;
}

double now() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + t.tv_nsec / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: run_usage OUT.json COMMAND [ARGS...]\n");
    return 2;
  }
  const double start = now();
  pid_t pid = 0;
  if (const int err = ::posix_spawnp(&pid, argv[2], nullptr, nullptr, argv + 2, environ)) {
    std::fprintf(stderr, "run_usage: %s: %s\n", argv[2], std::strerror(err));
    return 127;
  }
  int status = 0;
  rusage ru{};
  while (::wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      std::perror("run_usage: wait4");
      return 1;
    }
  }
  const double wall = now() - start;
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::FILE* out = std::fopen(argv[1], "w");
  if (out == nullptr) {
    std::fprintf(stderr, "run_usage: %s: %s\n", argv[1], std::strerror(errno));
    return 1;
  }
  std::fprintf(out,
               "{\"exit\": %d, \"maxrss_kib\": %ld, \"user_s\": %.6f, \"sys_s\": %.6f, "
               "\"wall_s\": %.6f}\n",
               code, ru.ru_maxrss, seconds(ru.ru_utime), seconds(ru.ru_stime), wall);
  std::fclose(out);
  return code;
}
