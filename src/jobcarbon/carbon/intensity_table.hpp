// The table of annual grid carbon intensities (data/intensity.csv): one row per zone and dataset,
// with year, basis, source and licence. Looked up by zone id or ISO 3166 code; each zone has one
// default dataset (docs/carbon.md says which and why).
#pragma once

#include <cstddef>
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace jobcarbon::carbon {

struct CsvTable;

// One annual intensity of one zone in one dataset.
struct IntensityRow {
  std::string zone;         // "DE", "US-CAL-CISO", "SE-SE1", "EU", "WORLD"
  std::string name;         // "Germany", "CAISO (United States)"
  std::string alpha2;       // ISO 3166-1 alpha-2 for a country-level zone, else empty
  std::string alpha3;       // ISO 3166-1 alpha-3 for a country-level zone, else empty
  std::string dataset;      // "ember", "electricitymaps", "eea-2016-study", ...
  bool is_default = false;  // the dataset used for this zone when none is asked for
  int year = 0;
  double kg_per_kwh = 0;
  std::string basis;   // "lifecycle, generation" / "direct, generation" / "lifecycle, consumption"
  std::string source;  // short citation
  std::string licence;
  std::string note;  // further detail of the source, may be empty
};

class IntensityTable {
 public:
  // The zone id of the world average, the fallback when no zone is configured.
  static constexpr std::string_view kWorldZone = "WORLD";

  // Parse the table from CSV text; SOURCE names it in errors. Checks every row (numbers, one
  // default per zone, (zone, dataset) unique, an ISO code names one zone only, a WORLD row).
  // Return the table, or an error naming the file, line and field.
  static std::expected<IntensityTable, std::string> parse(std::string_view text,
                                                          std::string_view source);
  // Load the table from a file that replaces the embedded one.
  static std::expected<IntensityTable, std::string> load_file(const std::filesystem::path& path);
  // Load the table embedded in the binary (data/intensity.csv at build time).
  static std::expected<IntensityTable, std::string> load_embedded();
  // Return the part of the embedded table that a lookup of CODE needs: every row of the zone
  // whose id, ISO code or name is CODE, and the world rows; the whole table when CODE names no
  // zone (so that the error lists the closest matches) or is empty. `jobcarbon run` calls this at
  // every start: parsing 750 rows to use one would cost more than the rest of its start-up.
  static std::expected<IntensityTable, std::string> load_embedded_for(std::string_view code);

  // Return every row, in file order.
  const std::vector<IntensityRow>& rows() const { return rows_; }
  // Return the dataset names, in order of first appearance.
  std::vector<std::string> datasets() const;

  // Return the row of the zone named by CODE — a zone id, an ISO alpha-2 or alpha-3 code, or a
  // zone's exact name, case-insensitive — in DATASET, or in the zone's default dataset when
  // DATASET is empty. Errors: an unknown code (the message lists the closest matches), an
  // unknown dataset (lists the datasets), a zone without a row in that dataset (lists its rows).
  std::expected<IntensityRow, std::string> lookup(std::string_view code,
                                                  std::string_view dataset = {}) const;

  // Return the world average row of DATASET (default dataset when empty), or an error.
  std::expected<IntensityRow, std::string> world(std::string_view dataset = {}) const;

  // Return the rows matching QUERY — every row when QUERY is empty; otherwise the rows whose zone
  // or ISO code equals it or whose zone or name contains it (case-insensitive) — restricted to
  // DATASET when it is not empty. Sorted by zone, the default dataset first.
  std::vector<IntensityRow> search(std::string_view query, std::string_view dataset = {}) const;

  // Return up to LIMIT zones closest to CODE, as "ZONE (NAME)", best first: names or ids
  // containing it, then by edit distance to the zone id, ISO codes and name.
  std::vector<std::string> closest_matches(std::string_view code, std::size_t limit = 5) const;

 private:
  static std::expected<IntensityTable, std::string> from_csv(CsvTable csv);
  // Return the zone id CODE names, or an empty string.
  std::string resolve_zone(std::string_view code) const;
  bool has_dataset(std::string_view dataset) const;

  std::vector<IntensityRow> rows_;
};

}  // namespace jobcarbon::carbon
