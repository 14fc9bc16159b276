#include <jobcarbon/daemon/socket_server.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace jobcarbon::daemon {

namespace fs = std::filesystem;

struct SocketServer::Client {
  int fd = -1;
  agent::PeerCred peer;
  agent::LineFramer framer;
  std::string out;
  std::chrono::steady_clock::time_point last_activity;
  bool closing = false;  // the peer closed its side: finish writing, then close
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
};

namespace {

std::string errno_text() {
  return std::strerror(errno);
}

sockaddr_un address_of(const fs::path& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  return a;
}

// Return true when something accepts connections at path.
bool someone_listens(const fs::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_un a = address_of(path);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::expected<std::unique_ptr<SocketServer>, std::string> SocketServer::listen(
    const fs::path& path, SocketLimits limits) {
  if (path.native().size() >= sizeof(sockaddr_un::sun_path)) {
    return std::unexpected(fmt::format("{}: socket path longer than {} bytes", path.string(),
                                       sizeof(sockaddr_un::sun_path) - 1));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return std::unexpected(
          fmt::format("{}: exists and is not a socket; not replacing it", path.string()));
    }
    if (someone_listens(path)) {
      return std::unexpected(fmt::format(
          "{}: another agent is listening there (one jobcarbond per socket)", path.string()));
    }
    ::unlink(path.c_str());  // left by an agent that was killed
  }
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::unexpected(fmt::format("socket(): {}", errno_text()));
  const sockaddr_un a = address_of(path);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
    auto e = fmt::format("{}: bind: {}", path.string(), errno_text());
    ::close(fd);
    return std::unexpected(e);
  }
  ::chmod(path.c_str(), 0666);
  if (::listen(fd, 64) != 0) {
    auto e = fmt::format("{}: listen: {}", path.string(), errno_text());
    ::close(fd);
    return std::unexpected(e);
  }
  return std::unique_ptr<SocketServer>(new SocketServer(fd, path, limits));
}

SocketServer::SocketServer(int fd, fs::path path, SocketLimits limits)
    : fd_(fd), path_(std::move(path)), limits_(limits) {}

SocketServer::~SocketServer() {
  clients_.clear();
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

void SocketServer::accept_all() {
  for (;;) {
    const int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return;  // EAGAIN: no more; other errors: try again at the next poll
    if (clients_.size() >= limits_.max_clients) {
      ::close(c);
      continue;
    }
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      ::close(c);
      continue;
    }
    auto client = std::make_unique<Client>();
    client->fd = c;
    client->peer = agent::PeerCred{cred.pid, cred.uid, cred.gid};
    client->last_activity = std::chrono::steady_clock::now();
    clients_.push_back(std::move(client));
  }
}

bool SocketServer::read_from(Client& c, const Handler& handler) {
  char buf[16384];
  // Read what is there now, at most a few messages' worth per poll: a flooding client gets its
  // turn again at the next poll, after sampling.
  for (int round = 0; round < 8; ++round) {
    const ssize_t n = ::read(c.fd, buf, sizeof(buf));
    if (n > 0) {
      c.last_activity = std::chrono::steady_clock::now();
      for (const auto& frame : c.framer.push(std::string_view(buf, static_cast<std::size_t>(n)))) {
        c.out += handler(c.peer, frame);
      }
      if (c.out.size() > limits_.max_output_bytes) return false;
      continue;
    }
    if (n == 0) {
      if (auto last = c.framer.close()) c.out += handler(c.peer, *last);
      c.closing = true;
      return true;
    }
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

bool SocketServer::write_to(Client& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return !c.closing;
}

void SocketServer::poll_once(Duration timeout, const Handler& handler) {
  std::vector<pollfd> fds;
  fds.push_back({fd_, POLLIN, 0});
  for (const auto& c : clients_) {
    short ev = c->closing ? 0 : POLLIN;
    if (!c->out.empty()) ev |= POLLOUT;
    fds.push_back({c->fd, ev, 0});
  }
  // Rounded up: rounded down, poll() returns before the tick is due and the caller spins on
  // poll(0) until it is (most of the agent's CPU time before, docs/benchmarks.md "Agent").
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
  const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(0, ms)));
  const auto now = std::chrono::steady_clock::now();
  std::vector<bool> drop(clients_.size(), false);
  if (ready > 0) {
    for (std::size_t i = 1; i < fds.size(); ++i) {
      Client& c = *clients_[i - 1];
      const short re = fds[i].revents;
      if (re == 0) continue;
      bool keep = true;
      if (re & (POLLIN | POLLHUP | POLLERR)) keep = read_from(c, handler);
      if (keep) keep = write_to(c);
      drop[i - 1] = !keep;
    }
  }
  for (std::size_t i = 0; i < clients_.size(); ++i) {
    if (now - clients_[i]->last_activity > limits_.idle_timeout) drop[i] = true;
  }
  for (std::size_t i = clients_.size(); i-- > 0;) {
    if (drop[i]) clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  if (ready > 0 && (fds[0].revents & POLLIN)) accept_all();
}

}  // namespace jobcarbon::daemon
