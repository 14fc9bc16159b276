#include <jobcarbon/agent/client.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

namespace jobcarbon::agent {

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::expected<Message, ClientError> request(const std::filesystem::path& socket,
                                            const Message& message, Duration timeout) {
  const auto fail = [&](bool no_agent, std::string what) {
    return std::unexpected(ClientError{no_agent, fmt::format("{}: {}", socket.string(), what)});
  };
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (socket.native().size() >= sizeof(a.sun_path)) return fail(false, "socket path too long");
  std::strncpy(a.sun_path, socket.c_str(), sizeof(a.sun_path) - 1);
  Fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) return fail(false, std::strerror(errno));
  if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
    const int e = errno;
    return fail(e == ENOENT || e == ECONNREFUSED, fmt::format("no agent: {}", std::strerror(e)));
  }
  ::fcntl(s.fd, F_SETFL, ::fcntl(s.fd, F_GETFL) | O_NONBLOCK);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto wait = [&](short events) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{s.fd, events, 0};
    return ::poll(&p, 1, static_cast<int>(left.count())) > 0;
  };
  const std::string line = serialize(message);
  std::size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(s.fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait(POLLOUT)) return fail(false, "timed out sending");
    } else {
      return fail(false, fmt::format("send: {}", std::strerror(errno)));
    }
  }
  std::string in;
  for (;;) {
    if (const auto nl = in.find('\n'); nl != std::string::npos) {
      auto m = parse(std::string_view(in).substr(0, nl));
      if (!m) return fail(false, "the agent's reply is not a message: " + m.error().message());
      return *m;
    }
    if (in.size() > kMaxMessageBytes + 2) return fail(false, "the agent's reply is too long");
    char buf[8192];
    const ssize_t n = ::read(s.fd, buf, sizeof(buf));
    if (n > 0) {
      in.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      return fail(false, "the agent closed the connection without a reply");
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait(POLLIN)) return fail(false, "timed out waiting for the agent's reply");
    } else {
      return fail(false, fmt::format("read: {}", std::strerror(errno)));
    }
  }
}

}  // namespace jobcarbon::agent
