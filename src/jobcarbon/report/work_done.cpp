#include <jobcarbon/report/work_done.hpp>

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace jobcarbon::report {
namespace {

constexpr std::size_t kMaxUnit = 64;
constexpr std::size_t kQuoted = 80;

bool blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// TEXT for an error message: at most kQuoted bytes, control characters as '?'.
std::string quoted(std::string_view text) {
  std::string out(text.substr(0, kQuoted));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return "'" + out + (text.size() > kQuoted ? "...'" : "'");
}

}  // namespace

std::expected<WorkDone, std::string> parse_work(std::string_view text) {
  std::string_view s = text;
  if (s.ends_with("\r\n")) {
    s.remove_suffix(2);
  } else if (s.ends_with('\n')) {
    s.remove_suffix(1);
  }
  s = trim(s);
  if (s.find_first_of("\r\n") != std::string_view::npos) {
    return std::unexpected(fmt::format("work {}: expected one line 'COUNT UNIT'", quoted(text)));
  }
  double count = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), count);
  if (ec != std::errc() || end == s.data()) {
    return std::unexpected(fmt::format(
        "work {}: expected a number then a unit, e.g. '115305030 images'", quoted(text)));
  }
  if (!std::isfinite(count) || count < 0) {
    return std::unexpected(
        fmt::format("work {}: the count must be a finite number, 0 or more", quoted(text)));
  }
  const std::string_view rest = s.substr(static_cast<std::size_t>(end - s.data()));
  if (!rest.empty() && !blank(rest.front())) {
    return std::unexpected(fmt::format(
        "work {}: expected blanks between the count and the unit, e.g. '115305030 images'",
        quoted(text)));
  }
  const std::string_view unit = trim(rest);
  if (unit.empty()) {
    return std::unexpected(
        fmt::format("work {}: no unit after the count (images, tokens, samples...)", quoted(text)));
  }
  if (unit.size() > kMaxUnit) {
    return std::unexpected(
        fmt::format("work {}: the unit is longer than {} bytes", quoted(text), kMaxUnit));
  }
  for (char c : unit) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return std::unexpected(
          fmt::format("work {}: the unit holds a control character", quoted(text)));
    }
  }
  return WorkDone{count, std::string(unit)};
}

}  // namespace jobcarbon::report
