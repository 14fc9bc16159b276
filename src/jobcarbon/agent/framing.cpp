#include <jobcarbon/agent/framing.hpp>

#include <fmt/format.h>

namespace jobcarbon::agent {

std::string describe(FrameError error, std::size_t max_line_bytes) {
  switch (error) {
    case FrameError::too_long:
      return fmt::format("message too long (over {} bytes)", max_line_bytes);
    case FrameError::truncated:
      return "message truncated: the connection closed before its newline";
  }
  return "unknown framing error";
}

LineFramer::LineFramer(std::size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

std::vector<Frame> LineFramer::push(std::string_view chunk) {
  std::vector<Frame> frames;
  while (!chunk.empty()) {
    const auto newline = chunk.find('\n');
    const auto piece = chunk.substr(0, newline);  // up to the newline, or all of chunk
    const bool complete = newline != std::string_view::npos;
    chunk.remove_prefix(complete ? newline + 1 : chunk.size());

    if (discarding_) {
      // The too-long line was already reported; drop its rest without holding it.
      if (complete) discarding_ = false;
      continue;
    }
    if (pending_.size() + piece.size() > max_line_bytes_) {
      frames.emplace_back(std::unexpected(FrameError::too_long));
      pending_.clear();
      pending_.shrink_to_fit();
      discarding_ = !complete;
      continue;
    }
    if (!complete) {
      pending_.append(piece);
      continue;
    }
    std::string line = std::move(pending_);
    pending_.clear();
    line.append(piece);
    if (!line.empty()) frames.emplace_back(std::move(line));
  }
  return frames;
}

std::optional<Frame> LineFramer::close() {
  const bool had_partial = !pending_.empty();
  pending_.clear();
  discarding_ = false;
  if (had_partial) return Frame(std::unexpected(FrameError::truncated));
  return std::nullopt;
}

}  // namespace jobcarbon::agent
