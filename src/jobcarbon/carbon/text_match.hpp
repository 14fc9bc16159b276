// Small text helpers for matching what a user typed against table entries: trimming, ASCII case
// folding, and the edit distance behind "did you mean" suggestions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace jobcarbon::carbon {

// Return S without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s);
// Return S with ASCII letters lower-cased (other bytes, e.g. UTF-8, unchanged).
std::string lower(std::string_view s);
// Return S folded for matching what people type: ASCII lower case, and the accented Latin letters
// of U+00C0..U+017F (UTF-8) replaced by their base letter, so "tokyo" finds "Tōkyō" and
// "quebec" finds "Québec".
std::string fold(std::string_view s);
// Return S with ASCII letters upper-cased (other bytes unchanged).
std::string upper(std::string_view s);
// Return the Levenshtein distance between A and B, counted in bytes.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace jobcarbon::carbon
