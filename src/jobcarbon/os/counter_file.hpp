// A sysfs counter or power file kept open between samples. Opening a sysfs file costs more than
// reading it (path walk, kernfs open and release), and the sensors read the same few files ten
// times a second, so each channel holds one descriptor and preads it from offset 0: sysfs and
// procfs files are seq_files, which produce a fresh value for every read at offset 0.
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>

#include <jobcarbon/os/file.hpp>

namespace jobcarbon::os {

// One integer file (energy_uj, energyN_input, powerN_average) opened once, O_RDONLY|O_CLOEXEC,
// and read with pread at offset 0 on each read(). Move-only; owns one descriptor (none while
// its file cannot be opened).
//
// Vanished files. On sysfs a removed attribute fails pread (ENODEV), and procfs files of a
// process that exited fail likewise; on such a failure read() closes, reopens the path once and
// reads again, so a channel whose device came back recovers in the same read and one whose file
// is gone gives the open error (ENOENT), as os::read_int64 would. On other filesystems (test
// fixtures) a deleted file stays readable through an open descriptor, so there read() also checks
// the file's link count (fstat) and treats a file unlinked or replaced by rename as vanished:
// `rm f`, and `mv new f` over it, are seen by the next read. Rewriting a file in place
// (`echo N > f`, truncating the same inode) is seen without a reopen on any filesystem. A file
// replaced while it has a second hard link is not noticed (the old inode keeps a link).
class CounterFile {
 public:
  // Open path. A failure is not reported here: the first read() tries again and returns it.
  explicit CounterFile(std::filesystem::path path);
  ~CounterFile();
  CounterFile(CounterFile&& other) noexcept;
  CounterFile& operator=(CounterFile&& other) noexcept;
  CounterFile(const CounterFile&) = delete;
  CounterFile& operator=(const CounterFile&) = delete;

  // Return the decimal integer the file holds now, or the error: "PATH: <strerror>" with its
  // errno (EACCES, ENOENT, EIO, ...) when it cannot be opened or read, "PATH: not an integer:
  // '...'" (errno_value 0) for bad content, exactly as os::read_int64 reports them. When the
  // file is not open, or its descriptor fails or points to a vanished file, the path is opened
  // once more within this call. Never throws.
  std::expected<std::int64_t, ReadError> read();

  // Point this counter at path (a chip found again under a new hwmonN): close the old file and
  // open the new one, with the same deferred error as the constructor.
  void reset(std::filesystem::path path);

  // Return the path read.
  const std::filesystem::path& path() const { return path_; }

  // Return true while a descriptor is held (the last open succeeded).
  bool is_open() const { return fd_ >= 0; }

 private:
  // Open path_ into fd_; return 0 or the errno of open.
  int open();
  void close();
  // Return the value through fd_, or the errno of pread/fstat as a ReadError (ENOENT when the
  // file has no link left, checked only off sysfs/procfs).
  std::expected<std::int64_t, ReadError> pread_value();

  std::filesystem::path path_;
  int fd_ = -1;
  bool check_links_ = false;  // the file is not on sysfs or procfs: look for unlinks
};

}  // namespace jobcarbon::os
