#include <jobcarbon/os/durable_file.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace jobcarbon::os {
namespace {

namespace fs = std::filesystem;

std::unexpected<std::string> failure(const fs::path& path, std::string_view what, int err) {
  return std::unexpected(fmt::format("{}: {}: {}", path.string(), what, std::strerror(err)));
}

// Closes a file descriptor at the end of a scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Close now and return close's errno (0 on success): a failing close can report a lost write.
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

std::expected<void, std::string> write_all(int fd, std::string_view content, const fs::path& path) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return failure(path, "write", errno);
    }
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

std::expected<void, std::string> write_file_atomically(const fs::path& path,
                                                       std::string_view content) {
  fs::path tmp = path;
  tmp += ".tmp";
  // O_NOFOLLOW: the agent runs as root; a symlink planted at PATH.tmp must not redirect the write.
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) return failure(tmp, "open", errno);
  // O_CREAT keeps the mode of a file that exists already (a leftover PATH.tmp).
  if (::fchmod(fd.get(), 0600) != 0) return failure(tmp, "chmod", errno);
  if (auto written = write_all(fd.get(), content, tmp); !written) return written;
  if (::fsync(fd.get()) != 0) return failure(tmp, "fsync", errno);
  if (const int err = fd.close(); err != 0) return failure(tmp, "close", err);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return failure(path, "rename", errno);

  // The rename is durable only once the directory entry is on disk.
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) return failure(dir, "open directory", errno);
  if (::fsync(dir_fd.get()) != 0) return failure(dir, "fsync directory", errno);
  return {};
}

std::expected<std::optional<std::string>, std::string> read_small_file(const fs::path& path,
                                                                       std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO placed at PATH must not hang; it is refused below.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return failure(path, "open", errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return failure(path, "stat", errno);
  if (!S_ISREG(st.st_mode)) {
    return std::unexpected(fmt::format("{}: not a regular file", path.string()));
  }
  auto too_large = [&] {
    return std::unexpected(
        fmt::format("{}: larger than {} bytes, the most expected", path.string(), max_bytes));
  };
  if (static_cast<std::uintmax_t>(st.st_size) > max_bytes) return too_large();

  // Read until end of file or one byte past the limit: the file may have grown since fstat.
  std::string content;
  content.reserve(static_cast<std::size_t>(st.st_size));
  char buffer[16384];
  while (content.size() <= max_bytes) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return failure(path, "read", errno);
    }
    if (n == 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
  }
  if (content.size() > max_bytes) return too_large();
  return std::optional<std::string>(std::move(content));
}

}  // namespace jobcarbon::os
