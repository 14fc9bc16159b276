#include <jobcarbon/daemon/socket_server.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <jobcarbon/agent/client.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::daemon {
namespace {

using namespace std::chrono_literals;

int connect_to(const std::filesystem::path& p) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, p.c_str(), sizeof(a.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Echo handler: replies "ok <n>" for a line of n bytes, "err <why>" for a frame error; records
// the peer's uid.
struct Echo {
  std::vector<std::string> lines;
  uid_t uid = 12345;
  std::string operator()(const agent::PeerCred& peer, const agent::Frame& f) {
    uid = peer.uid;
    if (!f) return "err\n";
    lines.push_back(*f);
    return "ok " + std::to_string(f->size()) + "\n";
  }
};

// Serve in this thread until done() while a client thread does its part.
void serve(SocketServer& s, Echo& echo, const std::function<bool()>& done) {
  const SocketServer::Handler h = [&](const agent::PeerCred& p, const agent::Frame& f) {
    return echo(p, f);
  };
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!done() && std::chrono::steady_clock::now() < deadline) s.poll_once(20ms, h);
}

TEST(SocketServer, RepliesWithPeerCredentialsAndSurvivesHostileClients) {
  testing::TempDir dir;
  const auto path = dir.path() / "agent.sock";
  auto server = SocketServer::listen(path, SocketLimits{8, 2s, 1 << 20});
  ASSERT_TRUE(server) << server.error();
  Echo echo;
  std::atomic<bool> finished{false};
  std::string reply;
  std::thread client([&] {
    // Hostile ones first: garbage without newline then close; an oversized line; idle sockets.
    const int g = connect_to(path);
    ::write(g, "\x01\x02garbage", 9);
    ::close(g);
    const int big = connect_to(path);
    const std::string huge(100 * 1024, 'x');
    ::write(big, huge.data(), huge.size());
    ::write(big, "\nshort\n", 7);
    std::vector<int> idle;
    for (int i = 0; i < 5; ++i) idle.push_back(connect_to(path));
    // A well-behaved request still gets its answer promptly.
    const int c = connect_to(path);
    ::write(c, "hello\n", 6);
    char buf[64] = {};
    const auto n = ::read(c, buf, sizeof(buf) - 1);
    reply.assign(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    char bbuf[256] = {};
    std::string big_reply;
    while (big_reply.find("ok 5\n") == std::string::npos) {
      const auto m = ::read(big, bbuf, sizeof(bbuf));
      if (m <= 0) break;
      big_reply.append(bbuf, static_cast<std::size_t>(m));
    }
    EXPECT_EQ(big_reply, "err\nok 5\n");
    for (int fd : idle) ::close(fd);
    ::close(c);
    ::close(big);
    finished = true;
  });
  serve(**server, echo, [&] { return finished.load(); });
  client.join();
  EXPECT_EQ(reply, "ok 5\n");
  EXPECT_EQ(echo.uid, ::getuid());
  EXPECT_THAT(echo.lines, ::testing::Contains("hello"));
  EXPECT_THAT(echo.lines, ::testing::Contains("short"));
  // The half-sent garbage was reported as truncated (an "err" reply nobody read), not as a line.
  EXPECT_THAT(echo.lines, ::testing::Not(::testing::Contains("\x01\x02garbage")));
}

TEST(SocketServer, DropsIdleClientsAndCapsConnections) {
  testing::TempDir dir;
  const auto path = dir.path() / "agent.sock";
  auto server = SocketServer::listen(path, SocketLimits{3, 200ms, 1 << 20});
  ASSERT_TRUE(server) << server.error();
  Echo echo;
  std::vector<int> fds;
  for (int i = 0; i < 6; ++i) fds.push_back(connect_to(path));
  const SocketServer::Handler h = [&](const agent::PeerCred& p, const agent::Frame& f) {
    return echo(p, f);
  };
  (*server)->poll_once(50ms, h);
  EXPECT_LE((*server)->client_count(), 3u);
  std::this_thread::sleep_for(300ms);
  (*server)->poll_once(10ms, h);
  (*server)->poll_once(10ms, h);
  EXPECT_EQ((*server)->client_count(), 0u);
  for (int fd : fds) ::close(fd);
}

TEST(SocketServer, ReplacesAStaleSocketButNotALiveOneOrAFile) {
  testing::TempDir dir;
  const auto path = dir.path() / "agent.sock";
  {
    auto first = SocketServer::listen(path);
    ASSERT_TRUE(first);
    const auto second = SocketServer::listen(path);
    ASSERT_FALSE(second);
    EXPECT_THAT(second.error(), ::testing::HasSubstr("another agent is listening"));
  }
  // A socket file left behind by a killed agent (bind without listen leaves a dead socket).
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)), 0);
  ::close(fd);
  EXPECT_TRUE(SocketServer::listen(path));
  const auto file = dir.path() / "file";
  { std::ofstream(file) << "x"; }
  const auto refused = SocketServer::listen(file);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error(), ::testing::HasSubstr("not a socket"));
}

TEST(SocketServer, RandomByteStreamsNeverStopTheServer) {
  testing::TempDir dir;
  const auto path = dir.path() / "agent.sock";
  // Room for every junk connection: the client may open them faster than the server reads their
  // ends (under load), and a full server closes new connections at once, by design.
  auto server = SocketServer::listen(path, SocketLimits{512, 10s, 1 << 20});
  ASSERT_TRUE(server);
  Echo echo;
  std::atomic<bool> finished{false};
  std::string reply;
  std::thread client([&] {
    std::mt19937 rng(7);
    for (int i = 0; i < 200; ++i) {
      const int fd = connect_to(path);
      std::string junk(rng() % 5000, '\0');
      for (auto& ch : junk) ch = static_cast<char>(rng());
      ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
      if (rng() % 2) ::shutdown(fd, SHUT_WR);
      ::close(fd);
    }
    const auto r = agent::request(path, agent::StatusRequest{}, 20s);
    // The echo handler's "ok N" is not a protocol message; what matters is an answer came.
    reply = r ? "message" : r.error().message;
    finished = true;
  });
  serve(**server, echo, [&] { return finished.load(); });
  client.join();
  EXPECT_THAT(reply, ::testing::HasSubstr("not a message"));
}

}  // namespace
}  // namespace jobcarbon::daemon
