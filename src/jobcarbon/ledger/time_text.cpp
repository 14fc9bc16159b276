#include <jobcarbon/ledger/time_text.hpp>

#include <ctime>

#include <fmt/format.h>

namespace jobcarbon::ledger {

std::string utc_text(Timestamp t, UtcStyle style) {
  const auto whole = std::chrono::floor<std::chrono::seconds>(t);
  const auto s = static_cast<std::time_t>(whole.time_since_epoch().count());
  std::tm tm{};
  gmtime_r(&s, &tm);
  const auto date = fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  const auto time = fmt::format("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec);
  switch (style) {
    case UtcStyle::kReadable:
      return date + " " + time;
    case UtcStyle::kIso:
      return date + "T" + time + "Z";
    case UtcStyle::kIsoMicros:
      break;
  }
  return fmt::format("{}T{}.{:06}Z", date, time, (t - whole).count());
}

}  // namespace jobcarbon::ledger
