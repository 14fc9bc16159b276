// The agent's journal: JournalState as one JSON document, replaced atomically after every
// boundary (durable_file.hpp), so that a killed agent finds the state of its last boundary and
// nothing in between. Versioned: a journal of another version is refused (and kept aside by the
// daemon), never half-read; a field added later is optional within version 1 (pending_steps), so
// that a journal written before it still loads. Format: docs/agent-design.md, "Journal".
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include <jobcarbon/agent/engine.hpp>

namespace jobcarbon::agent {

inline constexpr int kJournalVersion = 1;
// A journal larger than this is not one of ours (a few KiB per running job).
inline constexpr std::size_t kMaxJournalBytes = 64 * 1024 * 1024;

// Return the journal as JSON text.
std::string serialize_journal(const JournalState& state);

// Return the journal in text, or what is wrong with it ("jobs[2].charged: expected 7 integers").
// Every state serialize_journal() writes parses back equal.
std::expected<JournalState, std::string> parse_journal(std::string_view text);

}  // namespace jobcarbon::agent
