// Wall-clock instants of the ledger as text, in UTC, for listings and JSON.
#pragma once

#include <string>

#include <jobcarbon/ledger/job_record.hpp>

namespace jobcarbon::ledger {

enum class UtcStyle {
  kReadable,   // "2026-01-02 03:04:05" (tables)
  kIso,        // "2026-01-02T03:04:05Z" (whole seconds)
  kIsoMicros,  // "2026-01-02T03:04:05.123456Z" (the precision the ledger keeps)
};

// Return T in UTC in the given style.
std::string utc_text(Timestamp t, UtcStyle style);

}  // namespace jobcarbon::ledger
