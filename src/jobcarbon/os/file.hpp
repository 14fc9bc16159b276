// Reading small files (sysfs, procfs). Failures are values: hardware reads fail routinely
// (permission denied, a channel that vanished, EIO on a disabled sensor).
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <string>

namespace jobcarbon::os {

struct ReadError {
  int errno_value = 0;  // errno of the failing call, 0 when the content was bad
  std::string message;  // "PATH: Permission denied" / "PATH: not an integer: 'abc'"
};

// Return the whole content of a small file, or the error of open/read.
std::expected<std::string, ReadError> read_file(const std::filesystem::path& path);

// Return the file's content with trailing whitespace (newline) removed.
std::expected<std::string, ReadError> read_line(const std::filesystem::path& path);

// Return the decimal integer the file holds (sysfs style: digits and a newline).
std::expected<std::int64_t, ReadError> read_int64(const std::filesystem::path& path);

// Return true when the process may open the file for reading (access(2) R_OK).
bool readable(const std::filesystem::path& path);

}  // namespace jobcarbon::os
