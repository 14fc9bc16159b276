#include <jobcarbon/os/file.hpp>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace jobcarbon::os {

ReadError errno_error(const std::filesystem::path& path, int err) {
  return ReadError{err, path.string() + ": " + std::strerror(err)};
}

std::expected<std::string, ReadError> read_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(errno_error(path, errno));
  std::string content;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return std::unexpected(errno_error(path, err));
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return content;
}

std::expected<std::string, ReadError> read_line(const std::filesystem::path& path) {
  auto content = read_file(path);
  if (!content) return content;
  while (!content->empty() && (content->back() == '\n' || content->back() == '\r' ||
                               content->back() == ' ' || content->back() == '\t')) {
    content->pop_back();
  }
  return content;
}

std::expected<std::int64_t, ReadError> read_int64(const std::filesystem::path& path) {
  // Small fixed buffer: this runs on the sampling path, many times a second on big nodes.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::unexpected(errno_error(path, errno));
  char buf[64];
  ssize_t n;
  do {
    n = ::pread(fd, buf, sizeof buf - 1, 0);
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (n < 0) return std::unexpected(errno_error(path, err));
  return parse_int64(std::string_view(buf, static_cast<std::size_t>(n)), path);
}

std::expected<std::int64_t, ReadError> parse_int64(std::string_view content,
                                                   const std::filesystem::path& path) {
  while (!content.empty() &&
         (content.back() == '\n' || content.back() == ' ' || content.back() == '\r')) {
    content.remove_suffix(1);
  }
  std::int64_t value = 0;
  const char* end = content.data() + content.size();
  const auto [ptr, ec] = std::from_chars(content.data(), end, value);
  if (ec != std::errc() || ptr != end || content.empty()) {
    return std::unexpected(
        ReadError{0, path.string() + ": not an integer: '" + std::string(content) + "'"});
  }
  return value;
}

bool readable(const std::filesystem::path& path) {
  return ::access(path.c_str(), R_OK) == 0;
}

}  // namespace jobcarbon::os
