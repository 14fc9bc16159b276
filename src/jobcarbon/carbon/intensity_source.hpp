// Where the carbon intensity of the electricity comes from: a fixed value (--intensity), a row of
// the annual table (--zone/--country, --dataset), or an hourly series from a file. The footprint
// asks for the intensity at a wall time, so a time-varying source plugs in like a constant one.
#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <jobcarbon/carbon/intensity_table.hpp>

namespace jobcarbon::carbon {

using WallTime = std::chrono::system_clock::time_point;

// The intensity in force at some time, with what a report must say about it.
struct Intensity {
  double kg_per_kwh = 0;
  std::string zone;               // "DE"; empty for a fixed value
  std::string dataset;            // "ember", "fixed", "hourly-series"
  std::string basis;              // "lifecycle, generation", ...
  std::string source;             // citation, or the flag / file it came from
  int year = 0;                   // year of the figure (of the timestamp for a series)
  bool is_default_world = false;  // no zone was configured: the world average stands in
};

class IntensitySource {
 public:
  virtual ~IntensitySource() = default;
  // Return the intensity in force at wall time T, or an error when the source does not cover T.
  virtual std::expected<Intensity, std::string> at(WallTime t) const = 0;
  // Return the first time after T at which the intensity may change (an hour boundary of a
  // series), or std::nullopt when it never changes after T. The footprint splits intervals there.
  virtual std::optional<WallTime> next_change_after(WallTime t) const = 0;
};

// A value given on the command line or in the config (--intensity KG_PER_KWH).
class FixedIntensity final : public IntensitySource {
 public:
  // KG_PER_KWH must be finite and >= 0 (checked by parse_intensity_value before).
  explicit FixedIntensity(double kg_per_kwh, std::string source = "--intensity");
  std::expected<Intensity, std::string> at(WallTime t) const override;
  std::optional<WallTime> next_change_after(WallTime) const override { return std::nullopt; }

 private:
  Intensity intensity_;
};

// Return the value of --intensity as kg/kWh, or an error for text that is not a number, is
// negative, or is implausibly large (above 2 kg/kWh: g/kWh given by mistake).
std::expected<double, std::string> parse_intensity_value(std::string_view text);

// One row of the annual table: the same value at every time.
class TableIntensity final : public IntensitySource {
 public:
  // IS_DEFAULT_WORLD says the row is the world average used because no zone was configured.
  explicit TableIntensity(const IntensityRow& row, bool is_default_world = false);
  std::expected<Intensity, std::string> at(WallTime t) const override;
  std::optional<WallTime> next_change_after(WallTime) const override { return std::nullopt; }

 private:
  Intensity intensity_;
};

// A time series of intensities from a CSV file with columns `timestamp` (ISO 8601, e.g.
// 2024-03-01T13:00:00Z; an offset such as +01:00 is honoured, none means UTC) and `kg_per_kwh`;
// optional columns `zone` and `basis` are reported when present. Each value holds from its
// timestamp until the next one; the last holds for as long as the step before it (an hour for a
// series of one row).
class HourlySeries final : public IntensitySource {
 public:
  // Parse TEXT; SOURCE names it in errors and in the reported source. Errors name the line:
  // a bad timestamp or number, timestamps not strictly increasing, no rows.
  static std::expected<HourlySeries, std::string> parse(std::string_view text,
                                                        std::string_view source);
  // Read and parse the file at PATH.
  static std::expected<HourlySeries, std::string> load_file(const std::filesystem::path& path);

  // Return the value of the step containing T, or an error when T is before the first timestamp
  // or after the end of the last step.
  std::expected<Intensity, std::string> at(WallTime t) const override;
  std::optional<WallTime> next_change_after(WallTime t) const override;

  // Return the start of the first step and the end of the last one.
  WallTime begin() const { return points_.front().start; }
  WallTime end() const { return end_; }

 private:
  static std::expected<HourlySeries, std::string> from_csv(const CsvTable& csv);

  struct Point {
    WallTime start;
    double kg_per_kwh;
    std::string zone;
    std::string basis;
  };
  std::vector<Point> points_;
  WallTime end_;
  std::string source_;
};

// Return the ISO 8601 timestamp TEXT as a wall time: YYYY-MM-DD, then T or a space, then
// HH:MM[:SS[.fraction]], then Z, +HH:MM, -HH:MM, +HHMM or nothing (UTC), in the years 1970 to
// 2100. Error for anything else.
std::expected<WallTime, std::string> parse_iso8601(std::string_view text);

// Return T as "YYYY-MM-DDTHH:MM:SSZ" (UTC, whole seconds).
std::string format_iso8601(WallTime t);

}  // namespace jobcarbon::carbon
