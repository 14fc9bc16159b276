#include <jobcarbon/carbon/intensity_source.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <utility>

#include <fmt/core.h>

#include <jobcarbon/carbon/csv.hpp>
#include <jobcarbon/carbon/text_match.hpp>

namespace jobcarbon::carbon {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr double kMaxKgPerKwh = 2.0;  // as the config file: above this, g/kWh was given by mistake

int year_of(WallTime t) {
  const std::chrono::year_month_day ymd{std::chrono::floor<days>(t)};
  return static_cast<int>(ymd.year());
}

// Reads fixed-width decimal fields from a timestamp, left to right.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool digits(std::size_t n, int& out) {
    if (s_.size() < n) return false;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (s_[i] < '0' || s_[i] > '9') return false;
      v = v * 10 + (s_[i] - '0');
    }
    out = v;
    s_.remove_prefix(n);
    return true;
  }
  bool literal(char c) {
    if (s_.empty() || s_.front() != c) return false;
    s_.remove_prefix(1);
    return true;
  }
  bool at_end() const { return s_.empty(); }
  char peek() const { return s_.empty() ? '\0' : s_.front(); }
  void skip() { s_.remove_prefix(1); }

 private:
  std::string_view s_;
};

}  // namespace

FixedIntensity::FixedIntensity(double kg_per_kwh, std::string source) {
  intensity_.kg_per_kwh = kg_per_kwh;
  intensity_.dataset = "fixed";
  intensity_.basis = "as given";
  intensity_.source = std::move(source);
}

std::expected<Intensity, std::string> FixedIntensity::at(WallTime t) const {
  Intensity i = intensity_;
  i.year = year_of(t);
  return i;
}

std::expected<double, std::string> parse_intensity_value(std::string_view text) {
  const std::string_view s = trim(text);
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    return std::unexpected(fmt::format("intensity '{}' is not a number (kg CO2 per kWh)", text));
  }
  if (v < 0) return std::unexpected(fmt::format("intensity {} kg/kWh is negative", v));
  if (v > kMaxKgPerKwh) {
    return std::unexpected(fmt::format(
        "intensity {} kg/kWh is implausible; the unit is kg CO2 per kWh (0.4, not 400 g)", v));
  }
  return v;
}

TableIntensity::TableIntensity(const IntensityRow& row, bool is_default_world) {
  intensity_ = Intensity{row.kg_per_kwh, row.zone, row.dataset,     row.basis,
                         row.source,     row.year, is_default_world};
}

std::expected<Intensity, std::string> TableIntensity::at(WallTime) const {
  return intensity_;
}

std::expected<WallTime, std::string> parse_iso8601(std::string_view text) {
  const std::string_view s = trim(text);
  auto bad = [&] {
    return std::unexpected(
        fmt::format("not an ISO 8601 timestamp (like 2024-03-01T13:00:00Z): '{}'", text));
  };
  Cursor c(s);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!c.digits(4, y) || !c.literal('-') || !c.digits(2, mo) || !c.literal('-') ||
      !c.digits(2, d)) {
    return bad();
  }
  if (!c.literal('T') && !c.literal('t') && !c.literal(' ')) return bad();
  if (!c.digits(2, h) || !c.literal(':') || !c.digits(2, mi)) return bad();
  std::chrono::nanoseconds fraction{0};
  if (c.literal(':')) {
    if (!c.digits(2, sec)) return bad();
    if (c.literal('.') || c.literal(',')) {
      std::int64_t scale = 100'000'000;
      int digit = 0;
      bool any = false;
      while (c.digits(1, digit)) {
        fraction += std::chrono::nanoseconds(digit * scale);
        scale /= 10;
        any = true;
      }
      if (!any) return bad();
    }
  }
  minutes offset{0};
  if (c.literal('Z') || c.literal('z')) {
  } else if (c.peek() == '+' || c.peek() == '-') {
    const int sign = c.peek() == '-' ? -1 : 1;
    c.skip();
    int oh = 0, om = 0;
    if (!c.digits(2, oh)) return bad();
    c.literal(':');
    if (!c.digits(2, om) || oh > 23 || om > 59) return bad();
    offset = minutes(sign * (oh * 60 + om));
  }
  if (!c.at_end()) return bad();
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(mo),
                                        std::chrono::day(d)};
  // Years are bounded so that nanosecond wall times (1678..2262) hold every timestamp and the end
  // of a series' last step.
  if (!ymd.ok() || y < 1970 || y > 2100 || h > 23 || mi > 59 || sec > 60) return bad();
  const auto t =
      std::chrono::sys_days(ymd) + hours(h) + minutes(mi) + seconds(sec) + fraction - offset;
  return std::chrono::time_point_cast<WallTime::duration>(t);
}

std::string format_iso8601(WallTime t) {
  const auto secs = std::chrono::floor<seconds>(t);
  const auto day = std::chrono::floor<days>(secs);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{secs - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

std::expected<HourlySeries, std::string> HourlySeries::parse(std::string_view text,
                                                             std::string_view source) {
  auto csv = parse_csv(text, source);
  if (!csv) return std::unexpected(csv.error());
  return from_csv(*csv);
}

std::expected<HourlySeries, std::string> HourlySeries::from_csv(const CsvTable& csv) {
  const std::string_view source = csv.source;
  auto ts_col = csv.require_column("timestamp");
  if (!ts_col) return std::unexpected(ts_col.error());
  auto kg_col = csv.require_column("kg_per_kwh");
  if (!kg_col) return std::unexpected(kg_col.error());
  const auto zone_col = csv.column("zone");
  const auto basis_col = csv.column("basis");
  HourlySeries series;
  series.source_ = std::string(source);
  int previous_line = 0;
  for (const auto& row : csv.rows) {
    auto t = parse_iso8601(row.fields[*ts_col]);
    if (!t) return std::unexpected(fmt::format("{}: {}", csv.where(row, *ts_col), t.error()));
    auto kg = number_field(csv, row, *kg_col);
    if (!kg) return std::unexpected(kg.error());
    if (*kg < 0 || *kg > kMaxKgPerKwh) {
      return std::unexpected(fmt::format("{}: {} kg/kWh is {}", csv.where(row, *kg_col), *kg,
                                         *kg < 0 ? "negative" : "implausible (g/kWh given?)"));
    }
    if (!series.points_.empty() && *t <= series.points_.back().start) {
      return std::unexpected(fmt::format(
          "{}: timestamp {} is not after the one on line {} ({}); rows must be in time order",
          csv.where(row, *ts_col), format_iso8601(*t), previous_line,
          format_iso8601(series.points_.back().start)));
    }
    previous_line = row.line;
    series.points_.push_back(Point{*t, *kg,
                                   zone_col ? std::string(trim(row.fields[*zone_col])) : "",
                                   basis_col ? std::string(trim(row.fields[*basis_col])) : ""});
  }
  if (series.points_.empty()) {
    return std::unexpected(fmt::format("{}:{}: no rows after the header", source, csv.header_line));
  }
  const auto n = series.points_.size();
  const auto last_step = n >= 2 ? series.points_[n - 1].start - series.points_[n - 2].start
                                : std::chrono::duration_cast<WallTime::duration>(hours(1));
  series.end_ = series.points_.back().start + last_step;
  return series;
}

std::expected<HourlySeries, std::string> HourlySeries::load_file(
    const std::filesystem::path& path) {
  auto csv = read_csv_file(path);
  if (!csv) return std::unexpected(csv.error());
  return from_csv(*csv);
}

std::expected<Intensity, std::string> HourlySeries::at(WallTime t) const {
  if (t < begin() || t >= end_) {
    return std::unexpected(fmt::format("{} covers {} to {}; no intensity for {}", source_,
                                       format_iso8601(begin()), format_iso8601(end_),
                                       format_iso8601(t)));
  }
  // The last point starting at or before t.
  auto it = std::upper_bound(points_.begin(), points_.end(), t,
                             [](WallTime v, const Point& p) { return v < p.start; });
  const Point& p = *std::prev(it);
  return Intensity{p.kg_per_kwh,
                   p.zone,
                   "hourly-series",
                   p.basis.empty() ? "as given by the series file" : p.basis,
                   source_,
                   year_of(p.start),
                   false};
}

std::optional<WallTime> HourlySeries::next_change_after(WallTime t) const {
  auto it = std::upper_bound(points_.begin(), points_.end(), t,
                             [](WallTime v, const Point& p) { return v < p.start; });
  if (it != points_.end()) return it->start;
  if (t < end_) return end_;  // the series stops covering time there
  return std::nullopt;
}

}  // namespace jobcarbon::carbon
