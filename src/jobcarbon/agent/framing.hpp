// Splitting a byte stream from a socket into protocol lines, with bounded memory: a peer that
// sends a gigabyte without a newline costs the agent at most one message's worth of buffer.
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <jobcarbon/agent/protocol.hpp>

namespace jobcarbon::agent {

// Why a stretch of the stream is not a line to parse.
enum class FrameError {
  too_long,   // a line longer than the limit; reported once, the rest of it up to '\n' dropped
  truncated,  // the peer closed in the middle of a line
};

// Return a short description of the error for an Error reply or a log line.
std::string describe(FrameError error, std::size_t max_line_bytes);

// A complete line without its '\n' (a "\r" before it is kept; JSON treats it as space), or why
// there is none.
using Frame = std::expected<std::string, FrameError>;

// Turns chunks as read() returns them into complete lines. Empty lines are skipped (a client may
// send them as keep-alives). Not thread-safe: one framer per connection.
class LineFramer {
 public:
  // Lines longer than max_line_bytes (not counting '\n') are refused.
  explicit LineFramer(std::size_t max_line_bytes = kMaxMessageBytes);

  // Take the next chunk of the stream and return the frames it completed, in stream order.
  // Holds at most max_line_bytes of an unfinished line between calls.
  std::vector<Frame> push(std::string_view chunk);

  // The peer closed the stream: return FrameError::truncated when an unfinished line was pending
  // (not when the pending part belonged to a line already reported too long), else nothing.
  // The framer is then empty and may be reused.
  std::optional<Frame> close();

  // Return how many bytes of an unfinished line are held (never more than max_line_bytes).
  std::size_t buffered() const { return pending_.size(); }

 private:
  std::size_t max_line_bytes_;
  std::string pending_;
  bool discarding_ = false;  // inside a too-long line: drop bytes up to the next '\n'
};

}  // namespace jobcarbon::agent
