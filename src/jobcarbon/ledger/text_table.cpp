#include <jobcarbon/ledger/text_table.hpp>

#include <algorithm>
#include <string_view>

namespace jobcarbon::ledger {
namespace {

// A name holding a newline or an escape sequence must not break the table or drive the terminal.
std::string printable(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return s;
}

std::size_t width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

std::string aligned_table(const std::vector<std::vector<std::string>>& rows,
                          const std::vector<bool>& right) {
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> w;
  for (const auto& row : rows) {
    cells.emplace_back();
    for (std::size_t c = 0; c < row.size(); ++c) {
      cells.back().push_back(printable(row[c]));
      if (w.size() <= c) w.push_back(0);
      w[c] = std::max(w[c], width(cells.back().back()));
    }
  }
  std::string out;
  for (const auto& row : cells) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string fill(w[c] - width(row[c]), ' ');
      const bool r = c < right.size() && right[c];
      line += r ? fill + row[c] : row[c] + fill;
      if (c + 1 < row.size()) line += "  ";
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + "\n";
  }
  return out;
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace jobcarbon::ledger
