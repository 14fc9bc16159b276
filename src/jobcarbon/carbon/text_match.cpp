#include <jobcarbon/carbon/text_match.hpp>

#include <algorithm>
#include <numeric>
#include <vector>

namespace jobcarbon::carbon {

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string fold(std::string_view s) {
  // Base letters of U+00C0..U+017F, generated with Python's unicodedata (NFD, first character);
  // '?' where there is none (× and ÷), which keeps the original bytes.
  static constexpr std::string_view kBase =
      "aaaaaaaceeeeiiiidnooooo?ouuuuytsaaaaaaaceeeeiiiidnooooo?ouuuuyty"
      "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkkllllllllll"
      "nnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";
  static_assert(kBase.size() == 0x180 - 0xC0);
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 >= 0xC3 && b0 <= 0xC5 && i + 1 < s.size()) {
      const auto b1 = static_cast<unsigned char>(s[i + 1]);
      if ((b1 & 0xC0) == 0x80) {
        const unsigned cp = ((b0 & 0x1Fu) << 6) | (b1 & 0x3Fu);
        if (cp >= 0xC0 && cp < 0x180 && kBase[cp - 0xC0] != '?') {
          out += kBase[cp - 0xC0];
          ++i;
          continue;
        }
      }
    }
    out += (b0 >= 'A' && b0 <= 'Z') ? static_cast<char>(b0 - 'A' + 'a') : s[i];
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // One row of the dynamic-programming matrix at a time.
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace jobcarbon::carbon
