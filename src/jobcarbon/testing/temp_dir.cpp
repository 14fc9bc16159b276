#include <jobcarbon/testing/temp_dir.hpp>

#include <stdlib.h>

#include <fstream>
#include <stdexcept>
#include <system_error>

#include <gtest/gtest.h>

namespace jobcarbon::testing {

namespace fs = std::filesystem;

TempDir::TempDir(std::string_view prefix, Access access) {
  std::string tmpl = (fs::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
  if (access == Access::kAnyone) {
    fs::permissions(path_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

TreeCopy::TreeCopy(const fs::path& tree, std::string_view prefix)
    : TempDir(prefix, Access::kAnyone) {
  fs::copy(tree, path(), fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

void write_file(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << p;
}

}  // namespace jobcarbon::testing
