// The client side of the agent's socket: one request, one reply, with a deadline. Used by
// `jobcarbon status`, `jobcarbon run` (registering with a running agent) and the Slurm hooks.
#pragma once

#include <expected>
#include <filesystem>
#include <string>

#include <jobcarbon/agent/protocol.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::agent {

// Why a request got no reply.
struct ClientError {
  bool no_agent = false;  // nothing listens at the socket (no agent on this node)
  std::string message;    // names the socket and what failed
};

// Send message to the agent at socket and return its reply (Ok, Error or StatusReply), or why
// there is none: no agent, a timeout, a connection closed early, a reply that is not a message.
std::expected<Message, ClientError> request(const std::filesystem::path& socket,
                                            const Message& message,
                                            Duration timeout = std::chrono::seconds(5));

}  // namespace jobcarbon::agent
