// Random damage for the parsers' property tests: the same mutator for every parser of files and
// messages, so that each test states only its inputs and what must hold.
#pragma once

#include <cstddef>
#include <random>
#include <string>
#include <string_view>

namespace jobcarbon::testing {

// Return text with 1 to max_edits random edits — a byte replaced, inserted or removed, or the text
// cut short. A replaced or inserted byte comes from `favoured` half of the time (bytes that mean
// something to the parser), else it is any byte.
inline std::string mutate_bytes(const std::string& text, std::mt19937_64& rng,
                                std::string_view favoured = {}, unsigned max_edits = 5) {
  std::string s = text;
  for (auto edits = 1 + rng() % max_edits; edits > 0; --edits) {
    const auto pos = s.empty() ? 0 : rng() % s.size();
    const char c = !favoured.empty() && rng() % 2 ? favoured[rng() % favoured.size()]
                                                  : static_cast<char>(rng() % 256);
    switch (rng() % 4) {
      case 0:
        if (!s.empty()) s[pos] = c;
        break;
      case 1:
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(pos), c);
        break;
      case 2:
        if (!s.empty()) s.erase(pos, 1);
        break;
      default:
        s.resize(pos);
    }
  }
  return s;
}

}  // namespace jobcarbon::testing
