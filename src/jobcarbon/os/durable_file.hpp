// Small files that must survive a kill -9 or a power cut whole: the agent's journal and its spool
// records. A file is either its old content or its new content, never a mix or empty.
#pragma once

#include <cstddef>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace jobcarbon::os {

// Replace PATH's content with CONTENT, atomically and durably: write PATH.tmp (created or
// truncated, mode 0600 even when a leftover PATH.tmp had another mode; a symlink there is refused
// rather than followed), write all of it, fsync it, rename it over PATH, fsync PATH's directory.
// When this returns success the new content survives a crash; when it fails or the process dies
// midway, PATH holds its old content (a PATH.tmp may be left: the next write replaces it).
// One writer per PATH at a time: two concurrent writers share PATH.tmp. Error: "PATH: <what
// failed>: <strerror>".
std::expected<void, std::string> write_file_atomically(const std::filesystem::path& path,
                                                       std::string_view content);

// Return the content of the regular file PATH, or nullopt when it does not exist. Error when it is
// larger than MAX_BYTES (read no further: a damaged or foreign file must not exhaust memory), is
// not a regular file, or cannot be opened or read.
std::expected<std::optional<std::string>, std::string> read_small_file(
    const std::filesystem::path& path, std::size_t max_bytes);

}  // namespace jobcarbon::os
