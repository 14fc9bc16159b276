// Scratch directories and files for tests: what the test binaries of several folders share.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace jobcarbon::testing {

// A fresh directory under the system's temporary directory, removed with everything in it when
// the object goes out of scope.
class TempDir {
 public:
  // Who may enter the directory: kAnyone for tests that read it from a child that dropped root
  // (see run_unprivileged).
  enum class Access { kOwnerOnly, kAnyone };

  // Create <temp>/<prefix>XXXXXX (mode 0700, or 0755 for kAnyone). Throws std::runtime_error when
  // mkdtemp fails.
  explicit TempDir(std::string_view prefix = "jobcarbon-test-", Access access = Access::kOwnerOnly);
  // Remove the directory and everything in it; errors are ignored.
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Return the directory's path.
  const std::filesystem::path& path() const { return path_; }
  // Return the path of `name` inside the directory.
  std::filesystem::path operator/(const std::filesystem::path& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// A copy of a fixture tree in a fresh TempDir that any user may enter. Symlinks are copied as
// symlinks: the sysfs fixtures hold the class → devices links of real sysfs and the
// device/subsystem links that loop back up the tree.
class TreeCopy : public TempDir {
 public:
  // Copy the contents of `tree` into a new TempDir(prefix, kAnyone). Throws
  // std::filesystem::filesystem_error when the copy fails (the directory is removed).
  TreeCopy(const std::filesystem::path& tree, std::string_view prefix);
};

// Write `content` to p, truncating it first (as `echo N > p` does: an existing file keeps its
// inode). A failed write is a fatal test failure in this function.
void write_file(const std::filesystem::path& p, const std::string& content);

}  // namespace jobcarbon::testing
