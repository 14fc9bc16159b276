#include <jobcarbon/os/counter_file.hpp>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

namespace jobcarbon::os {

CounterFile::CounterFile(std::filesystem::path path) : path_(std::move(path)) {
  open();
}

CounterFile::~CounterFile() {
  close();
}

CounterFile::CounterFile(CounterFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      check_links_(other.check_links_) {}

CounterFile& CounterFile::operator=(CounterFile&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    check_links_ = other.check_links_;
  }
  return *this;
}

void CounterFile::reset(std::filesystem::path path) {
  close();
  path_ = std::move(path);
  open();
}

int CounterFile::open() {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return errno;
  // sysfs and procfs fail reads of a removed file themselves; elsewhere an unlinked file stays
  // readable, so its link count has to be looked at (one fstat per read, fixtures only).
  struct statfs fs {};
  check_links_ =
      ::fstatfs(fd_, &fs) != 0 || (fs.f_type != SYSFS_MAGIC && fs.f_type != PROC_SUPER_MAGIC);
  return 0;
}

void CounterFile::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::expected<std::int64_t, ReadError> CounterFile::pread_value() {
  if (check_links_) {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return std::unexpected(errno_error(path_, errno));
    if (st.st_nlink == 0) return std::unexpected(errno_error(path_, ENOENT));
  }
  // Same buffer as os::read_int64: a counter is at most 20 digits and a newline.
  char buf[64];
  ssize_t n;
  do {
    n = ::pread(fd_, buf, sizeof buf - 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return std::unexpected(errno_error(path_, errno));
  return parse_int64(std::string_view(buf, static_cast<std::size_t>(n)), path_);
}

std::expected<std::int64_t, ReadError> CounterFile::read() {
  bool fresh = false;
  if (fd_ < 0) {
    if (const int err = open(); err != 0) return std::unexpected(errno_error(path_, err));
    fresh = true;
  }
  auto value = pread_value();
  // Bad content is the file's answer, not a broken descriptor: keep it. A descriptor opened in
  // this call has had its one try.
  if (value || value.error().errno_value == 0 || fresh) return value;
  // The device went away (ENODEV), the file was unlinked, or the read failed (EIO): read the
  // path afresh once, as an open-per-read would, so a file that is back is read now and a file
  // that is gone gives the open's error (ENOENT, which the hwmon sensor acts on).
  close();
  if (const int err = open(); err != 0) return std::unexpected(errno_error(path_, err));
  return pread_value();
}

}  // namespace jobcarbon::os
