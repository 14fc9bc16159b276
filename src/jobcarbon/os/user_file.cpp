#include <jobcarbon/os/user_file.hpp>

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace jobcarbon::os {

namespace {

// In the child: 0 on success, else an errno value (ELOOP for a link, EINVAL for not a regular
// file).
int child_append(const char* path, uid_t uid, gid_t gid, std::string_view text) {
  if (::setgroups(0, nullptr) != 0 && ::getuid() == 0) return errno;
  if (::setgid(gid) != 0) return errno;
  if (::setuid(uid) != 0) return errno;
  const int fd = ::open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return errno;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return EINVAL;
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      return e == 0 ? EIO : e;
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return 0;
}

}  // namespace

std::expected<void, std::string> append_as_user(const std::filesystem::path& path, uid_t uid,
                                                gid_t gid, std::string_view text) {
  const std::string p = path.string();
  const pid_t pid = ::fork();
  if (pid < 0) return std::unexpected(fmt::format("{}: fork: {}", p, std::strerror(errno)));
  if (pid == 0) ::_exit(child_append(p.c_str(), uid, gid, text));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status)) return std::unexpected(fmt::format("{}: the writer was killed", p));
  const int e = WEXITSTATUS(status);
  if (e == 0) return {};
  if (e == ELOOP) return std::unexpected(fmt::format("{}: is a symbolic link; not followed", p));
  if (e == EINVAL) return std::unexpected(fmt::format("{}: not a regular file", p));
  return std::unexpected(fmt::format("{}: {} (as uid {})", p, std::strerror(e), uid));
}

}  // namespace jobcarbon::os
