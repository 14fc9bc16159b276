#include <jobcarbon/os/durable_file.hpp>

#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <jobcarbon/testing/temp_dir.hpp>
#include <jobcarbon/testing/unprivileged.hpp>

namespace jobcarbon::os {
namespace {

namespace fs = std::filesystem;
using jobcarbon::testing::TempDir;
using jobcarbon::testing::write_file;

std::string read_back(const fs::path& p) {
  auto r = read_small_file(p, 1 << 20);
  EXPECT_TRUE(r) << r.error();
  EXPECT_TRUE(r && r->has_value()) << p << " is missing";
  return r && *r ? **r : "";
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST(DurableFile, WriteReplacesTheContentAndLeavesNoTemporary) {
  TempDir dir;
  const fs::path p = dir / "journal.json";
  ASSERT_TRUE(write_file_atomically(p, "first version, long"));
  EXPECT_EQ(read_back(p), "first version, long");
  ASSERT_TRUE(write_file_atomically(p, "second"));
  EXPECT_EQ(read_back(p), "second");  // truncated, not overwritten in place
  ASSERT_TRUE(write_file_atomically(p, ""));
  EXPECT_EQ(read_back(p), "");
  EXPECT_FALSE(fs::exists(dir / "journal.json.tmp"));

  std::string big(3 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 251);
  ASSERT_TRUE(write_file_atomically(p, big));
  auto r = read_small_file(p, big.size());
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ(**r, big);
}

TEST(DurableFile, LeftoverTemporaryFromACrashIsIgnoredThenOverwritten) {
  TempDir dir;
  const fs::path p = dir / "journal.json";
  ASSERT_TRUE(write_file_atomically(p, "committed"));
  // A crash between open and rename left a half-written PATH.tmp, world-readable.
  write_file(dir / "journal.json.tmp", "half-written garbage that is longer than the new content");
  ASSERT_EQ(::chmod((dir / "journal.json.tmp").c_str(), 0644), 0);
  EXPECT_EQ(read_back(p), "committed");

  ASSERT_TRUE(write_file_atomically(p, "next"));
  EXPECT_EQ(read_back(p), "next");
  EXPECT_EQ(mode_of(p), 0600u);
  EXPECT_FALSE(fs::exists(dir / "journal.json.tmp"));
}

TEST(DurableFile, FileIsPrivateWhateverTheUmaskAndTheOldMode) {
  TempDir dir;
  const fs::path p = dir / "spooled";
  const mode_t old_umask = ::umask(0);
  auto written = write_file_atomically(p, "x");
  ::umask(old_umask);
  ASSERT_TRUE(written) << written.error();
  EXPECT_EQ(mode_of(p), 0600u);

  ASSERT_EQ(::chmod(p.c_str(), 0644), 0);
  ASSERT_TRUE(write_file_atomically(p, "y"));
  EXPECT_EQ(mode_of(p), 0600u);
}

TEST(DurableFile, SymlinkAtTheTemporaryIsRefusedNotFollowed) {
  TempDir dir;
  const fs::path victim = dir / "victim";
  write_file(victim, "precious");
  fs::create_symlink(victim, dir / "journal.json.tmp");
  auto written = write_file_atomically(dir / "journal.json", "evil");
  ASSERT_FALSE(written);
  EXPECT_NE(written.error().find("journal.json.tmp: open:"), std::string::npos) << written.error();
  EXPECT_EQ(read_back(victim), "precious");
  EXPECT_FALSE(fs::exists(dir / "journal.json"));
}

TEST(DurableFile, WriteErrorNamesThePath) {
  TempDir dir;
  write_file(dir / "plain", "a file, not a directory");
  auto written = write_file_atomically(dir / "plain" / "journal.json", "x");
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error(),
            (dir / "plain" / "journal.json.tmp").string() + ": open: Not a directory");
}

TEST(DurableFile, ReadSmallFileAbsentTooLargeAndNotRegular) {
  TempDir dir;
  auto absent = read_small_file(dir / "none", 10);
  ASSERT_TRUE(absent) << absent.error();
  EXPECT_FALSE(absent->has_value());

  write_file(dir / "four", "1234");
  auto exact = read_small_file(dir / "four", 4);
  ASSERT_TRUE(exact && exact->has_value());
  EXPECT_EQ(**exact, "1234");
  auto large = read_small_file(dir / "four", 3);
  ASSERT_FALSE(large);
  EXPECT_EQ(large.error(), (dir / "four").string() + ": larger than 3 bytes, the most expected");

  auto directory = read_small_file(dir.path(), 100);
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error(), dir.path().string() + ": not a regular file");

  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  auto fifo = read_small_file(dir / "fifo", 100);  // must not block waiting for a writer
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error(), (dir / "fifo").string() + ": not a regular file");
}

TEST(DurableFile, UnreadableFileIsAnError) {
  TempDir dir("jobcarbon-test-", TempDir::Access::kAnyone);
  const fs::path p = dir / "journal.json";
  ASSERT_TRUE(write_file_atomically(p, "root's"));  // 0600, owned by root
  const auto run = jobcarbon::testing::run_unprivileged([&] {
    auto r = read_small_file(p, 100);
    return r ? std::string("read it") : r.error();
  });
  ASSERT_EQ(run.wait_status, 0) << run.output;
  if (::geteuid() == 0) {
    EXPECT_EQ(run.output, p.string() + ": open: Permission denied");
  } else {
    EXPECT_EQ(run.output, "read it");  // the owner may read it: nothing to check without root
  }
}

}  // namespace
}  // namespace jobcarbon::os
