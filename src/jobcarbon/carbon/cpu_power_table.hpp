// CPU model -> power per core, for the estimator (CPU time × watts per core) where no sensor
// measures the CPU. The table is data/cpu_tdp.csv: a model substring, its TDP, cores, threads and
// source; the row whose match is "*" is the documented default per core.
#pragma once

#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobcarbon::carbon {

struct CsvTable;

// The rated power of one CPU model, per core.
struct CpuPower {
  std::string model;          // the table's match text ("EPYC 7742"), "*" for the default
  double tdp_w = 0;           // thermal design power of the package, W
  int cores = 0;              // physical cores of the package
  int threads = 0;            // hardware threads, 0 when the table does not say
  double watts_per_core = 0;  // tdp_w / cores
  std::string source;
  bool is_default = false;  // no row matched: the default per core
};

class CpuPowerTable {
 public:
  // Parse the table from CSV text; SOURCE names it in errors. Errors name file, line and field:
  // a TDP or core count that is not a positive number, a duplicate match, no "*" default row.
  static std::expected<CpuPowerTable, std::string> parse(std::string_view text,
                                                         std::string_view source);
  // Load the table from a file that replaces the embedded one.
  static std::expected<CpuPowerTable, std::string> load_file(const std::filesystem::path& path);
  // Load the table embedded in the binary (data/cpu_tdp.csv at build time).
  static std::expected<CpuPowerTable, std::string> load_embedded();

  // Return the row for a CPU model name as /proc/cpuinfo writes it ("Intel(R) Xeon(R) Gold 6148
  // CPU @ 2.40GHz"): the longest match text found in it as whole words, ignoring case, (R) and
  // (TM) marks and repeated spaces. std::nullopt when no row matches.
  std::optional<CpuPower> lookup(std::string_view cpu_model_name) const;
  // Return the default per core (the "*" row).
  const CpuPower& default_power() const { return default_; }
  const std::vector<CpuPower>& models() const { return models_; }

 private:
  static std::expected<CpuPowerTable, std::string> from_csv(const CsvTable& csv);

  std::vector<CpuPower> models_;
  std::vector<std::string> normalized_;  // match text of each model, normalized
  CpuPower default_;
};

// Return the row of the embedded table for CPU_MODEL_NAME, or std::nullopt when none matches
// (the caller then uses default_cpu_power() and says so). Throws std::logic_error only if the
// embedded table is broken, which the tests rule out.
std::optional<CpuPower> lookup_cpu_power(std::string_view cpu_model_name);
// Return the default power per core of the embedded table.
CpuPower default_cpu_power();

// Return NAME lower-cased, without (R)/(TM)/®/™ marks, with runs of spaces made one and trimmed.
std::string normalize_cpu_name(std::string_view name);

}  // namespace jobcarbon::carbon
