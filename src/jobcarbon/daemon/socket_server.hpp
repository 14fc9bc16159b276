// The agent's UNIX socket: accepts clients, reads newline-framed messages with bounded memory,
// learns each client's credentials from the kernel (SO_PEERCRED) and writes replies — all
// non-blocking, driven by poll() from the agent's one loop, so that no client (silent, slow,
// half-sending, flooding) can hold up sampling. The messages' meaning is the handler's business.
#pragma once

#include <sys/types.h>

#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <jobcarbon/agent/authorization.hpp>
#include <jobcarbon/agent/framing.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::daemon {

struct SocketLimits {
  std::size_t max_clients = 128;                    // more connections at once are closed at accept
  Duration idle_timeout{std::chrono::seconds(30)};  // a client silent this long is dropped
  std::size_t max_output_bytes = 4 << 20;  // a client that does not read its replies is dropped
};

class SocketServer {
 public:
  // Return the reply to one frame (a complete line, or why the stream is not one), ending in
  // '\n', or "" for no reply.
  using Handler =
      std::function<std::string(const agent::PeerCred& peer, const agent::Frame& frame)>;

  // Listen on path (mode 0666: anyone may connect; what they may do is decided per message from
  // their credentials). A stale socket file left by a killed agent is replaced; a live one (an
  // agent answers there) is an error, as is any other file at path.
  static std::expected<std::unique_ptr<SocketServer>, std::string> listen(
      const std::filesystem::path& path, SocketLimits limits = {});
  ~SocketServer();
  SocketServer(const SocketServer&) = delete;
  SocketServer& operator=(const SocketServer&) = delete;

  // Wait up to timeout for socket events and handle every one that is ready: accept, read,
  // frame, call the handler, write what can be written. Returns early on any event; never
  // blocks longer than timeout on any client.
  void poll_once(Duration timeout, const Handler& handler);

  std::size_t client_count() const { return clients_.size(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Client;
  SocketServer(int fd, std::filesystem::path path, SocketLimits limits);
  void accept_all();
  // Return false when the client is to be closed.
  bool read_from(Client& c, const Handler& handler);
  bool write_to(Client& c);

  int fd_ = -1;
  std::filesystem::path path_;
  SocketLimits limits_;
  std::vector<std::unique_ptr<Client>> clients_;
};

}  // namespace jobcarbon::daemon
