// Work done by a job, as the job or its user states it ("115305030 images", "2.1e9 tokens"), so
// that reports can give throughput per unit of energy. Pure.
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace jobcarbon::report {

struct WorkDone {
  double count = 0;  // finite, >= 0
  std::string unit;  // "images", "tokens", "samples": printable, 1..64 bytes, no line breaks

  bool operator==(const WorkDone&) const = default;
};

// Return the work in TEXT: a number (decimal or scientific: "1281167", "1.2e9"), blanks, then the
// unit (the rest of the line, trimmed). Leading/trailing blanks and one trailing newline are
// ignored. Error (naming what is wrong, quoting at most 80 bytes of TEXT): no number, a negative,
// infinite or NaN count, a missing unit, a unit over 64 bytes or holding control characters, or
// more than one line.
std::expected<WorkDone, std::string> parse_work(std::string_view text);

}  // namespace jobcarbon::report
