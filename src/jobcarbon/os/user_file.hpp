// Appending to a file as another user: how a root Epilog writes the job's energy into the job's
// own output file without letting the job's user make root write elsewhere.
#pragma once

#include <sys/types.h>

#include <expected>
#include <filesystem>
#include <string>
#include <string_view>

namespace jobcarbon::os {

// Append text to the existing regular file at path with the rights of uid/gid (a child process
// drops to them before opening), never following a symbolic link at path and never creating the
// file. Error: why (permission, not a regular file, a link, no such file), naming the path.
std::expected<void, std::string> append_as_user(const std::filesystem::path& path, uid_t uid,
                                                gid_t gid, std::string_view text);

}  // namespace jobcarbon::os
