// Reading small files (sysfs, procfs). Failures are values: hardware reads fail routinely
// (permission denied, a channel that vanished, EIO on a disabled sensor).
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>

namespace jobcarbon::os {

struct ReadError {
  int errno_value = 0;  // errno of the failing call, 0 when the content was bad
  std::string message;  // "PATH: Permission denied" / "PATH: not an integer: 'abc'"
};

// Return the error of a failing open or read of PATH: "PATH: Permission denied".
ReadError errno_error(const std::filesystem::path& path, int err);

// Return the whole content of a small file, or the error of open/read.
std::expected<std::string, ReadError> read_file(const std::filesystem::path& path);

// Return the file's content with trailing whitespace (newline) removed.
std::expected<std::string, ReadError> read_line(const std::filesystem::path& path);

// Return the decimal integer the file holds (sysfs style: digits and a newline).
std::expected<std::int64_t, ReadError> read_int64(const std::filesystem::path& path);

// Return the decimal integer in content, the bytes of path (sysfs style: digits, then trailing
// newlines, spaces or carriage returns, which are ignored), or a ReadError with errno_value 0 and
// the message "PATH: not an integer: 'CONTENT'". The one parser of read_int64 and CounterFile.
std::expected<std::int64_t, ReadError> parse_int64(std::string_view content,
                                                   const std::filesystem::path& path);

// Return true when the process may open the file for reading (access(2) R_OK).
bool readable(const std::filesystem::path& path);

}  // namespace jobcarbon::os
