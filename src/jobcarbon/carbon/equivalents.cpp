#include <jobcarbon/carbon/equivalents.hpp>

#include <set>

#include <fmt/core.h>

#include <jobcarbon/carbon/csv.hpp>
#include <jobcarbon/carbon/text_match.hpp>
#include <jobcarbon/data/embedded.hpp>

namespace jobcarbon::carbon {

std::expected<EquivalentsTable, std::string> EquivalentsTable::parse(std::string_view text,
                                                                     std::string_view source) {
  auto csv = parse_csv(text, source);
  if (!csv) return std::unexpected(csv.error());
  return from_csv(*csv);
}

std::expected<EquivalentsTable, std::string> EquivalentsTable::load_file(
    const std::filesystem::path& path) {
  auto csv = read_csv_file(path);
  if (!csv) return std::unexpected(csv.error());
  return from_csv(*csv);
}

std::expected<EquivalentsTable, std::string> EquivalentsTable::load_embedded() {
  const auto text = data::embedded_file("equivalents.csv");
  if (!text) return std::unexpected("equivalents.csv is not embedded in this binary");
  return parse(*text, "equivalents.csv (embedded)");
}

std::expected<EquivalentsTable, std::string> EquivalentsTable::from_csv(const CsvTable& csv) {
  std::vector<std::size_t> col;
  for (auto name :
       {"key", "name", "applies_to", "factor", "factor_unit", "source", "citation", "year"}) {
    auto c = csv.require_column(name);
    if (!c) return std::unexpected(c.error());
    col.push_back(*c);
  }
  enum { kKey, kName, kAppliesTo, kFactor, kUnit, kSource, kCitation, kYear };
  EquivalentsTable table;
  std::set<std::string> keys;
  for (const auto& row : csv.rows) {
    auto field = [&](int which) { return std::string(trim(row.fields[col[which]])); };
    auto error = [&](int which, std::string_view what) {
      return std::unexpected(fmt::format("{}: {}", csv.where(row, col[which]), what));
    };
    EquivalenceFactor f;
    f.key = field(kKey);
    f.name = field(kName);
    f.factor_unit = field(kUnit);
    f.source = field(kSource);
    f.citation = field(kCitation);
    if (f.key.empty()) return error(kKey, "empty");
    if (!keys.insert(f.key).second) return error(kKey, fmt::format("'{}' appears twice", f.key));
    if (f.name.empty()) return error(kName, "empty (say what the equivalent means)");
    if (f.factor_unit.empty()) return error(kUnit, "empty");
    if (f.source.empty()) return error(kSource, "empty (every factor needs its source)");
    const std::string applies = field(kAppliesTo);
    if (applies == "kg_co2") {
      f.applies_to = AppliesTo::kg_co2;
    } else if (applies == "kwh_facility") {
      f.applies_to = AppliesTo::kwh_facility;
    } else {
      return error(kAppliesTo,
                   fmt::format("expected 'kg_co2' or 'kwh_facility', found '{}'", applies));
    }
    auto factor = number_field(csv, row, col[kFactor]);
    if (!factor) return std::unexpected(factor.error());
    if (*factor <= 0) return error(kFactor, "must be greater than 0");
    f.factor = *factor;
    if (!field(kYear).empty()) {
      auto year = integer_field(csv, row, col[kYear]);
      if (!year) return std::unexpected(year.error());
      if (*year < 1900 || *year > 2100) return error(kYear, "implausible year");
      f.year = static_cast<int>(*year);
    }
    table.factors_.push_back(std::move(f));
  }
  return table;
}

std::vector<Equivalent> EquivalentsTable::compute(KgCo2 co2, double facility_kwh) const {
  std::vector<Equivalent> out;
  for (const auto& f : factors_) {
    const double input = f.applies_to == AppliesTo::kg_co2 ? co2.value : facility_kwh;
    out.push_back(
        Equivalent{f.key, f.name, input / f.factor, factor_text(f), f.source, f.citation, f.year});
  }
  return out;
}

std::string factor_text(const EquivalenceFactor& factor) {
  return fmt::format("{:g} {}", factor.factor, factor.factor_unit);
}

}  // namespace jobcarbon::carbon
