// GPU model -> board power, for estimates at submission before the ledger has learned a model's
// typical power (data/gpu_power.csv: a model substring, its maximum board power from the vendor's
// datasheet, and the source; the "*" row is the documented default). Never used for measured
// energy.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace jobcarbon::carbon {

struct GpuPower {
  std::string match;  // the table's match text ("H100 PCIe"), "*" for the default
  double watts = 0;
  std::string source;
  bool is_default = false;
};

class GpuPowerTable {
 public:
  // Parse the table from CSV text (columns match, watts, source); SOURCE names it in errors,
  // which name the line: a power that is not a number in (0, 5000], a duplicate match, no "*" row.
  static std::expected<GpuPowerTable, std::string> parse(std::string_view text,
                                                         std::string_view source);
  // Load the table embedded in the binary (data/gpu_power.csv at build time).
  static std::expected<GpuPowerTable, std::string> load_embedded();

  // Return the row whose match text is found in MODEL (an NVML device name such as "NVIDIA
  // H100 80GB HBM3"), ignoring ASCII case; the longest match wins; the default row when none
  // matches or MODEL is empty.
  GpuPower lookup(std::string_view model) const;

 private:
  std::vector<GpuPower> rows_;
  GpuPower default_;
};

}  // namespace jobcarbon::carbon
