#include <jobcarbon/os/user_file.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::os {
namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr uid_t kNobody = 65534;

TEST(AppendAsUser, AppendsWithTheUsersRightsAndNeverFollowsALink) {
  testing::TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  const auto out = dir.path() / "slurm-42.out";
  { std::ofstream(out) << "training...\n"; }
  ASSERT_EQ(::chown(out.c_str(), kNobody, kNobody), 0);
  ASSERT_TRUE(append_as_user(out, kNobody, kNobody, "jobcarbon: 1 kWh\n"));
  EXPECT_EQ(read(out), "training...\njobcarbon: 1 kWh\n");

  // The job's user points its output at a file only root may write: refused, untouched.
  const auto secret = dir.path() / "secret";
  { std::ofstream(secret) << "root's\n"; }
  ::chmod(secret.c_str(), 0644);
  const auto as_user = append_as_user(secret, kNobody, kNobody, "x\n");
  ASSERT_FALSE(as_user);
  EXPECT_THAT(as_user.error(), ::testing::HasSubstr("Permission denied"));
  const auto link = dir.path() / "link.out";
  std::filesystem::create_symlink(secret, link);
  const auto via_link = append_as_user(link, 0, 0, "x\n");  // even with root's rights
  ASSERT_FALSE(via_link);
  EXPECT_THAT(via_link.error(), ::testing::HasSubstr("symbolic link"));
  EXPECT_EQ(read(secret), "root's\n");
  // Never created.
  EXPECT_FALSE(append_as_user(dir.path() / "absent.out", kNobody, kNobody, "x\n"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "absent.out"));
}

}  // namespace
}  // namespace jobcarbon::os
