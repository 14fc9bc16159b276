// Equivalents make kg CO2 and kWh tangible ("3 household-days of electricity"). Each factor lives
// in data/equivalents.csv with its source and year, and is named by what it means, so that none
// can be misread: CO2 equivalents divide kg CO2, electricity equivalents divide facility kWh
// (after PUE).
#pragma once

#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::carbon {

struct CsvTable;

// What a factor is applied to.
enum class AppliesTo { kg_co2, kwh_facility };

// One row of data/equivalents.csv: one equivalent unit corresponds to FACTOR of the input
// (kg CO2 or facility kWh), e.g. 10 kWh per household-day.
struct EquivalenceFactor {
  std::string key;   // "household_days": stable id for JSON
  std::string name;  // "household-days of electricity"
  AppliesTo applies_to = AppliesTo::kg_co2;
  double factor = 0;        // input per one equivalent unit, > 0
  std::string factor_unit;  // "kWh per household per day"
  std::string source;       // "US EPA Greenhouse Gas Equivalencies Calculator"
  std::string citation;     // precise, url-less citation
  std::optional<int> year;  // year of the figure, when the source gives one
};

// One computed equivalent.
struct Equivalent {
  std::string key;
  std::string name;
  double value = 0;         // how many equivalent units
  std::string factor_text;  // "10 kWh per household per day"
  std::string source;
  std::string citation;
  std::optional<int> year;
};

class EquivalentsTable {
 public:
  // Parse the table from CSV text; SOURCE names it in errors. Return the table or an error naming
  // the file, line and field (unknown applies_to, a factor that is not a positive number, a
  // duplicate key, a missing source).
  static std::expected<EquivalentsTable, std::string> parse(std::string_view text,
                                                            std::string_view source);
  // Load the table from a file that replaces the embedded one.
  static std::expected<EquivalentsTable, std::string> load_file(const std::filesystem::path& path);
  // Load the table embedded in the binary (data/equivalents.csv at build time).
  static std::expected<EquivalentsTable, std::string> load_embedded();

  const std::vector<EquivalenceFactor>& factors() const { return factors_; }

  // Return every equivalent of CO2 and FACILITY_KWH, in table order: value = input / factor.
  std::vector<Equivalent> compute(KgCo2 co2, double facility_kwh) const;

 private:
  static std::expected<EquivalentsTable, std::string> from_csv(const CsvTable& csv);

  std::vector<EquivalenceFactor> factors_;
};

// Return "10 kWh per household per day": the factor with its unit, in few significant digits.
std::string factor_text(const EquivalenceFactor& factor);

}  // namespace jobcarbon::carbon
