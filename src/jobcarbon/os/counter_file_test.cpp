#include <jobcarbon/os/counter_file.hpp>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <jobcarbon/os/file.hpp>
#include <jobcarbon/testing/temp_dir.hpp>
#include <jobcarbon/testing/unprivileged.hpp>

namespace jobcarbon::os {
namespace {

namespace fs = std::filesystem;
using testing::write_file;

// A fresh directory that any user may enter, removed at the end.
class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("jobcarbon-counter-", Access::kAnyone) {}
};

TEST(CounterFile, RewrittenValueIsReadThroughTheSameDescriptor) {
  TempDir t;
  fs::create_directory(t.path() / "zone");
  write_file(t.path() / "zone/energy_uj", "258218293244\n");
  CounterFile f(t.path() / "zone/energy_uj");
  ASSERT_TRUE(f.is_open());
  EXPECT_EQ(f.read().value(), 258218293244);
  // The directory moves away: the path no longer resolves, so a value written now can only be
  // read through the descriptor opened above.
  fs::rename(t.path() / "zone", t.path() / "moved");
  write_file(t.path() / "moved/energy_uj", "258218300000\n");
  EXPECT_EQ(f.read().value(), 258218300000);
  write_file(t.path() / "moved/energy_uj", "17\n");  // shorter: truncation is seen too
  EXPECT_EQ(f.read().value(), 17);
  EXPECT_EQ(f.path(), t.path() / "zone/energy_uj");
}

TEST(CounterFile, SysfsAttributeIsFreshAtEachReadFromOffsetZero) {
  // A real sysfs attribute that changes on demand: loopback's transmit counter. One datagram to
  // a closed port on 127.0.0.1 sends at least one packet through lo.
  CounterFile f("/sys/class/net/lo/statistics/tx_packets");
  ASSERT_TRUE(f.is_open()) << "this test needs sysfs mounted at /sys";
  const std::int64_t before = f.read().value();
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::sendto(s, "x", 1, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to), 1);
  ::close(s);
  const std::int64_t after = f.read().value();
  EXPECT_GT(after, before);
  EXPECT_EQ(after, read_int64("/sys/class/net/lo/statistics/tx_packets").value());
}

TEST(CounterFile, ProcFileIsFreshAtEachReadFromOffsetZero) {
  // The last pid handed out in this pid namespace changes with every fork.
  CounterFile f("/proc/sys/kernel/ns_last_pid");
  const std::int64_t before = f.read().value();
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  const std::int64_t after = f.read().value();
  EXPECT_NE(after, before);
}

TEST(CounterFile, KernelFileThatFailsIsReopenedOnceThenRecovers) {
  // A kernel file whose object goes away fails pread (sysfs: ENODEV; here procfs: ESRCH) and the
  // path no longer opens: the read gives the open's error, as read_int64 would. Reached through
  // a symlink, so that the path can come back pointing elsewhere.
  TempDir t;
  const pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  const fs::path link = t.path() / "power1_input";
  fs::create_symlink("/proc/" + std::to_string(child) + "/oom_score_adj", link);
  CounterFile f(link);
  const auto first = f.read();
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(*first, 0);

  const auto gone = f.read();
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().errno_value, ENOENT);
  EXPECT_EQ(gone.error().message, link.string() + ": No such file or directory");
  EXPECT_FALSE(f.is_open());

  fs::remove(link);
  write_file(t.path() / "back", "118000000\n");
  fs::create_symlink(t.path() / "back", link);
  EXPECT_EQ(f.read().value(), 118000000);
  EXPECT_TRUE(f.is_open());
}

TEST(CounterFile, DeletedFileIsAnErrorThenReadAgainWhenRecreated) {
  TempDir t;
  const fs::path p = t.path() / "energy1_input";
  write_file(p, "3510000123456\n");
  CounterFile f(p);
  EXPECT_EQ(f.read().value(), 3510000123456);
  fs::remove(p);
  for (int i = 0; i < 2; ++i) {
    const auto r = f.read();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().errno_value, ENOENT);
    EXPECT_EQ(r.error().message, p.string() + ": No such file or directory");
  }
  write_file(p, "3510000999999\n");
  EXPECT_EQ(f.read().value(), 3510000999999);
}

TEST(CounterFile, FileReplacedByRenameIsReopened) {
  // `mv new f` gives f a new inode; the old one, still open here, has no link left.
  TempDir t;
  const fs::path p = t.path() / "energy_uj";
  write_file(p, "100\n");
  CounterFile f(p);
  EXPECT_EQ(f.read().value(), 100);
  write_file(t.path() / "energy_uj.new", "200\n");
  fs::rename(t.path() / "energy_uj.new", p);
  EXPECT_EQ(f.read().value(), 200);
  write_file(p, "300\n");  // and the new inode is the one kept open
  EXPECT_EQ(f.read().value(), 300);
}

TEST(CounterFile, MissingAtOpenIsAnErrorUntilItAppears) {
  TempDir t;
  const fs::path p = t.path() / "energy_uj";
  CounterFile f(p);
  EXPECT_FALSE(f.is_open());
  const auto r = f.read();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().errno_value, ENOENT);
  EXPECT_EQ(r.error().message, read_int64(p).error().message);
  write_file(p, "42\n");
  EXPECT_EQ(f.read().value(), 42);
  EXPECT_TRUE(f.is_open());
}

TEST(CounterFile, GarbageIsAnErrorNamingThePathAndKeepsTheDescriptor) {
  TempDir t;
  const fs::path p = t.path() / "power1_average";
  write_file(p, "80000000\n");
  CounterFile f(p);
  write_file(p, "abc\n");
  const auto r = f.read();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().errno_value, 0);
  EXPECT_EQ(r.error().message, p.string() + ": not an integer: 'abc'");
  EXPECT_EQ(r.error().message, read_int64(p).error().message);
  write_file(p, "");
  EXPECT_EQ(f.read().error().message, p.string() + ": not an integer: ''");
  write_file(p, "12 34\n");
  EXPECT_EQ(f.read().error().message, p.string() + ": not an integer: '12 34'");
  EXPECT_TRUE(f.is_open());
  write_file(p, "-5 \r\n");  // trailing space, CR and LF are trimmed, as by read_int64
  EXPECT_EQ(f.read().value(), -5);
}

TEST(CounterFile, RootOnlyFileGivesTheSameErrorAsReadInt64) {
  TempDir t;
  const fs::path p = t.path() / "energy_uj";
  write_file(p, "7\n");
  ASSERT_EQ(::chmod(p.c_str(), ::geteuid() == 0 ? 0400 : 0000), 0);
  const std::string out = testing::run_unprivileged([&] {
                            CounterFile f(p);
                            const auto a = f.read();
                            const auto b = read_int64(p);
                            if (a || b) return std::string("readable");
                            return std::to_string(a.error().errno_value) + "|" + a.error().message +
                                   "|" + std::to_string(b.error().errno_value) + "|" +
                                   b.error().message;
                          }).output;
  const std::string e = std::to_string(EACCES) + "|" + p.string() + ": Permission denied";
  EXPECT_EQ(out, e + "|" + e);
}

TEST(CounterFile, ResetPointsAtAnotherFile) {
  TempDir t;
  write_file(t.path() / "a", "1\n");
  write_file(t.path() / "b", "2\n");
  CounterFile f(t.path() / "a");
  EXPECT_EQ(f.read().value(), 1);
  f.reset(t.path() / "b");
  EXPECT_EQ(f.path(), t.path() / "b");
  EXPECT_EQ(f.read().value(), 2);
  f.reset(t.path() / "none");
  EXPECT_FALSE(f.is_open());
  EXPECT_EQ(f.read().error().errno_value, ENOENT);
}

TEST(CounterFile, MoveTransfersTheDescriptor) {
  TempDir t;
  write_file(t.path() / "a", "1\n");
  write_file(t.path() / "b", "2\n");
  CounterFile a(t.path() / "a");
  CounterFile moved(std::move(a));
  EXPECT_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_TRUE(moved.is_open());
  EXPECT_EQ(moved.read().value(), 1);
  CounterFile b(t.path() / "b");
  b = std::move(moved);
  EXPECT_EQ(b.path(), t.path() / "a");
  EXPECT_EQ(b.read().value(), 1);
  // The file b held before is closed: removing it leaves no descriptor open on it.
  std::size_t open_on_b = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (fs::read_symlink(e.path(), ec) == t.path() / "b") ++open_on_b;
  }
  EXPECT_EQ(open_on_b, 0u);
}

}  // namespace
}  // namespace jobcarbon::os
