#include <jobcarbon/carbon/gpu_power_table.hpp>

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include <jobcarbon/carbon/csv.hpp>
#include <jobcarbon/carbon/text_match.hpp>
#include <jobcarbon/data/embedded.hpp>

namespace jobcarbon::carbon {

std::expected<GpuPowerTable, std::string> GpuPowerTable::parse(std::string_view text,
                                                               std::string_view source) {
  auto csv = parse_csv(text, source);
  if (!csv) return std::unexpected(csv.error());
  std::size_t col[3];
  const char* names[] = {"match", "watts", "source"};
  for (int i = 0; i < 3; ++i) {
    auto c = csv->require_column(names[i]);
    if (!c) return std::unexpected(c.error());
    col[i] = *c;
  }
  GpuPowerTable t;
  bool has_default = false;
  for (const auto& row : csv->rows) {
    GpuPower p;
    p.match = row.fields[col[0]];
    p.source = row.fields[col[2]];
    const auto& w = row.fields[col[1]];
    const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), p.watts);
    if (ec != std::errc() || end != w.data() + w.size() || !(p.watts > 0 && p.watts <= 5000)) {
      return std::unexpected(fmt::format("{}: '{}' is not a power in W between 0 and 5000",
                                         csv->where(row, col[1]), w));
    }
    if (p.match.empty()) {
      return std::unexpected(fmt::format("{}: empty match", csv->where(row, col[0])));
    }
    for (const auto& other : t.rows_) {
      if (lower(other.match) == lower(p.match)) {
        return std::unexpected(
            fmt::format("{}: duplicate match '{}'", csv->where(row, col[0]), p.match));
      }
    }
    if (p.match == "*") {
      p.is_default = true;
      t.default_ = p;
      has_default = true;
    }
    t.rows_.push_back(std::move(p));
  }
  if (!has_default) return std::unexpected(fmt::format("{}: no default row '*'", source));
  return t;
}

std::expected<GpuPowerTable, std::string> GpuPowerTable::load_embedded() {
  const auto text = data::embedded_file("gpu_power.csv");
  if (!text) return std::unexpected("gpu_power.csv is not embedded in this binary");
  return parse(*text, "gpu_power.csv (embedded)");
}

GpuPower GpuPowerTable::lookup(std::string_view model) const {
  const std::string m = lower(model);
  const GpuPower* best = nullptr;
  for (const auto& r : rows_) {
    if (r.is_default || m.find(lower(r.match)) == std::string::npos) continue;
    if (best == nullptr || r.match.size() > best->match.size()) best = &r;
  }
  return best ? *best : default_;
}

}  // namespace jobcarbon::carbon
