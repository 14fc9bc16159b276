#include <jobcarbon/carbon/intensity_table.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include <fmt/core.h>
#include <fmt/format.h>

#include <jobcarbon/carbon/csv.hpp>
#include <jobcarbon/carbon/text_match.hpp>
#include <jobcarbon/data/embedded.hpp>

namespace jobcarbon::carbon {
namespace {

// Intensities are a few hundred g/kWh; anything above this is almost surely g/kWh entered as kg.
constexpr double kMaxKgPerKwh = 3.0;

bool all_letters(std::string_view s) {
  return std::ranges::all_of(
      s, [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); });
}

std::expected<IntensityTable, std::string> fail(std::string message) {
  return std::unexpected(std::move(message));
}

}  // namespace

std::expected<IntensityTable, std::string> IntensityTable::parse(std::string_view text,
                                                                 std::string_view source) {
  auto csv = parse_csv(text, source);
  if (!csv) return fail(csv.error());
  return from_csv(std::move(*csv));
}

std::expected<IntensityTable, std::string> IntensityTable::from_csv(CsvTable csv) {
  const std::string_view source = csv.source;
  const std::vector<std::string_view> names = {"zone",    "name",    "alpha2", "alpha3",
                                               "dataset", "default", "year",   "kg_per_kwh",
                                               "basis",   "source",  "licence"};
  std::vector<std::size_t> col;
  for (auto name : names) {
    auto c = csv.require_column(name);
    if (!c) return fail(c.error());
    col.push_back(*c);
  }
  const auto note_col = csv.column("note");
  enum {
    kZone,
    kName,
    kAlpha2,
    kAlpha3,
    kDataset,
    kDefault,
    kYear,
    kKg,
    kBasis,
    kSource,
    kLicence
  };

  IntensityTable table;
  table.rows_.reserve(csv.rows.size());
  // Hash maps: the embedded table is parsed at every start-up, which should cost well under a ms.
  struct ZoneInfo {
    int first_line = 0;
    int default_line = 0;  // 0: none yet
  };
  std::unordered_map<std::string, int> seen;  // zone + '\n' + dataset -> line
  std::unordered_map<std::string, std::pair<std::string, int>> code_owner;  // code -> zone, line
  std::unordered_map<std::string, ZoneInfo> zones;
  std::vector<std::string> zone_order;  // first appearance, for a deterministic error
  for (auto& r : csv.rows) {
    auto field = [&](int which) { return trim(r.fields[col[which]]); };
    // Move a text field out of the CSV row (the table is parsed at every start-up).
    auto take = [&](std::size_t c) {
      std::string& f = r.fields[c];
      if (const auto t = trim(f); t.size() != f.size()) f = std::string(t);
      return std::move(f);
    };
    auto error = [&](int which, std::string_view what) {
      return fail(fmt::format("{}: {}", csv.where(r, col[which]), what));
    };
    IntensityRow row;
    // Codes are matched case-insensitively; store them in their usual upper case.
    row.zone = upper(field(kZone));
    row.name = take(col[kName]);
    row.alpha2 = upper(field(kAlpha2));
    row.alpha3 = upper(field(kAlpha3));
    row.dataset = take(col[kDataset]);
    row.basis = take(col[kBasis]);
    row.source = take(col[kSource]);
    row.licence = take(col[kLicence]);
    if (note_col) row.note = take(*note_col);
    if (row.zone.empty()) return error(kZone, "empty");
    if (row.dataset.empty()) return error(kDataset, "empty");
    if (row.source.empty()) return error(kSource, "empty (every intensity needs its source)");
    if (!row.alpha2.empty() && (row.alpha2.size() != 2 || !all_letters(row.alpha2))) {
      return error(kAlpha2, fmt::format("not an ISO 3166 alpha-2 code: '{}'", row.alpha2));
    }
    if (!row.alpha3.empty() && (row.alpha3.size() != 3 || !all_letters(row.alpha3))) {
      return error(kAlpha3, fmt::format("not an ISO 3166 alpha-3 code: '{}'", row.alpha3));
    }
    const std::string is_default = lower(field(kDefault));
    if (is_default != "yes" && is_default != "no" && !is_default.empty()) {
      return error(kDefault,
                   fmt::format("expected 'yes', 'no' or empty, found '{}'", field(kDefault)));
    }
    row.is_default = is_default == "yes";
    auto year = integer_field(csv, r, col[kYear]);
    if (!year) return fail(year.error());
    if (*year < 1900 || *year > 2100) {
      return error(kYear, fmt::format("implausible year {}", *year));
    }
    row.year = static_cast<int>(*year);
    auto kg = number_field(csv, r, col[kKg]);
    if (!kg) return fail(kg.error());
    if (*kg < 0) return error(kKg, "negative");
    if (*kg > kMaxKgPerKwh) {
      return error(kKg, fmt::format("{} kg/kWh is implausible (g/kWh entered as kg/kWh?)", *kg));
    }
    row.kg_per_kwh = *kg;

    if (auto [it, fresh] = seen.emplace(row.zone + '\n' + row.dataset, r.line); !fresh) {
      return error(kDataset, fmt::format("zone {} already has a row in dataset '{}' (line {})",
                                         row.zone, row.dataset, it->second));
    }
    for (const std::string* code : {&row.alpha2, &row.alpha3}) {
      if (code->empty()) continue;
      auto [it, fresh] = code_owner.try_emplace(*code, row.zone, r.line);
      if (!fresh && it->second.first != row.zone) {
        return error(code->size() == 2 ? kAlpha2 : kAlpha3,
                     fmt::format("code {} already names zone {} (line {})", *code, it->second.first,
                                 it->second.second));
      }
    }
    auto [zone, fresh_zone] = zones.try_emplace(row.zone, ZoneInfo{r.line, 0});
    if (fresh_zone) zone_order.push_back(row.zone);
    if (row.is_default) {
      if (zone->second.default_line != 0) {
        return error(kDefault, fmt::format("zone {} already has a default dataset (line {})",
                                           row.zone, zone->second.default_line));
      }
      zone->second.default_line = r.line;
    }
    table.rows_.push_back(std::move(row));
  }
  for (const auto& zone : zone_order) {
    const ZoneInfo& info = zones.at(zone);
    if (info.default_line == 0) {
      return fail(
          fmt::format("{}:{}: zone {} has no default dataset (mark one of its rows 'yes' in column "
                      "'default')",
                      source, info.first_line, zone));
    }
  }
  if (!zones.contains(std::string(kWorldZone))) {
    return fail(
        fmt::format("{}: no {} row (the world average is the fallback when no zone is "
                    "configured)",
                    source, kWorldZone));
  }
  return table;
}

std::expected<IntensityTable, std::string> IntensityTable::load_file(
    const std::filesystem::path& path) {
  auto csv = read_csv_file(path);
  if (!csv) return fail(csv.error());
  return from_csv(std::move(*csv));
}

std::expected<IntensityTable, std::string> IntensityTable::load_embedded() {
  const auto text = data::embedded_file("intensity.csv");
  if (!text) return fail("intensity.csv is not embedded in this binary");
  return parse(*text, "intensity.csv (embedded)");
}

namespace {

// Return the first N comma-separated fields of one CSV line (quotes honoured; enough for the
// leading zone/name/alpha2/alpha3 columns), without copying.
std::vector<std::string_view> leading_fields(std::string_view line, std::size_t n) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (out.size() < n && i <= line.size()) {
    if (i < line.size() && line[i] == '"') {
      const auto close = line.find('"', i + 1);
      if (close == std::string_view::npos) break;
      out.push_back(line.substr(i + 1, close - i - 1));
      i = close + 2;
    } else {
      const auto comma = line.find(',', i);
      out.push_back(line.substr(i, comma == std::string_view::npos ? line.npos : comma - i));
      if (comma == std::string_view::npos) break;
      i = comma + 1;
    }
  }
  return out;
}

}  // namespace

std::expected<IntensityTable, std::string> IntensityTable::load_embedded_for(
    std::string_view code) {
  const auto text = data::embedded_file("intensity.csv");
  if (!text) return fail("intensity.csv is not embedded in this binary");
  std::string q = upper(trim(code));
  if (q == "UK") q = "GB";
  if (q == "EL") q = "GR";
  const std::string world(kWorldZone);
  // First pass: the zone ids whose row names CODE in its zone, name, alpha2 or alpha3 field.
  std::set<std::string> zones{world};
  bool found = q.empty() || q == world;
  std::size_t header_end = text->find('\n');
  if (header_end == std::string_view::npos) return parse(*text, "intensity.csv (embedded)");
  std::vector<std::string_view> lines;
  for (std::size_t pos = header_end + 1; pos < text->size();) {
    auto end = text->find('\n', pos);
    if (end == std::string_view::npos) end = text->size();
    const auto line = text->substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    lines.push_back(line);
    if (q.empty()) continue;
    const auto f = leading_fields(line, 4);
    if (f.empty()) continue;
    for (const auto& field : f) {
      if (!field.empty() && upper(field) == q) {
        zones.insert(upper(f[0]));
        found = true;
        break;
      }
    }
  }
  if (!found) return load_embedded();
  // Second pass: every row of those zones, so that the per-zone checks hold on the subset.
  std::string subset(text->substr(0, header_end + 1));
  for (const auto line : lines) {
    const auto f = leading_fields(line, 1);
    if (!f.empty() && zones.contains(upper(f[0]))) {
      subset.append(line);
      subset.push_back('\n');
    }
  }
  return parse(subset, "intensity.csv (embedded)");
}

std::vector<std::string> IntensityTable::datasets() const {
  std::vector<std::string> out;
  for (const auto& r : rows_) {
    if (std::ranges::find(out, r.dataset) == out.end()) out.push_back(r.dataset);
  }
  return out;
}

bool IntensityTable::has_dataset(std::string_view dataset) const {
  return std::ranges::any_of(rows_, [&](const auto& r) { return r.dataset == dataset; });
}

std::string IntensityTable::resolve_zone(std::string_view code) const {
  std::string q = upper(trim(code));
  if (q.empty()) return {};
  // Codes people use that ISO 3166-1 only reserves: UK for GB (exceptionally reserved), EL for
  // GR (the EU's own code for Greece).
  if (q == "UK") q = "GB";
  if (q == "EL") q = "GR";
  // Zone ids first: "DE" is both a zone id and an alpha-2 code, and they agree.
  for (auto member : {&IntensityRow::zone, &IntensityRow::alpha2, &IntensityRow::alpha3}) {
    for (const auto& r : rows_) {
      if (upper(r.*member) == q) return r.zone;
    }
  }
  // A zone's exact name, when it names one zone only.
  const std::string name = fold(trim(code));
  std::string found;
  for (const auto& r : rows_) {
    if (fold(r.name) != name) continue;
    if (!found.empty() && found != r.zone) return {};
    found = r.zone;
  }
  return found;
}

std::expected<IntensityRow, std::string> IntensityTable::lookup(std::string_view code,
                                                                std::string_view dataset) const {
  if (!dataset.empty() && !has_dataset(dataset)) {
    return std::unexpected(
        fmt::format("unknown dataset '{}'; datasets: {}", dataset, fmt::join(datasets(), ", ")));
  }
  const std::string zone = resolve_zone(code);
  if (zone.empty()) {
    const auto matches = closest_matches(code);
    return std::unexpected(fmt::format(
        "unknown zone or country code '{}'; closest matches: {} (see `jobcarbon intensity`)",
        trim(code),
        matches.empty() ? std::string("none close") : fmt::format("{}", fmt::join(matches, ", "))));
  }
  std::vector<std::string> available;
  for (const auto& r : rows_) {
    if (r.zone != zone) continue;
    if (dataset.empty() ? r.is_default : r.dataset == dataset) return r;
    available.push_back(r.dataset);
  }
  return std::unexpected(fmt::format("zone {} has no row in dataset '{}'; it has: {}", zone,
                                     dataset, fmt::join(available, ", ")));
}

std::expected<IntensityRow, std::string> IntensityTable::world(std::string_view dataset) const {
  return lookup(kWorldZone, dataset);
}

std::vector<IntensityRow> IntensityTable::search(std::string_view query,
                                                 std::string_view dataset) const {
  const std::string q = fold(trim(query));
  std::set<std::string> zones;
  for (const auto& r : rows_) {
    if (q.empty() || fold(r.alpha2) == q || fold(r.alpha3) == q ||
        fold(r.zone).find(q) != std::string::npos || fold(r.name).find(q) != std::string::npos) {
      zones.insert(r.zone);
    }
  }
  std::vector<IntensityRow> out;
  for (const auto& r : rows_) {
    if (zones.contains(r.zone) && (dataset.empty() || r.dataset == dataset)) out.push_back(r);
  }
  std::ranges::stable_sort(out, [](const IntensityRow& a, const IntensityRow& b) {
    const auto key = [](const IntensityRow& r) {
      return std::make_tuple(r.zone != kWorldZone, std::string_view(r.zone), !r.is_default);
    };
    return key(a) < key(b);
  });
  return out;
}

std::vector<std::string> IntensityTable::closest_matches(std::string_view code,
                                                         std::size_t limit) const {
  const std::string q = fold(trim(code));
  if (q.empty()) return {};
  // A suggestion further than this from every id and name is noise, not a match.
  const std::size_t max_distance = std::max<std::size_t>(1, q.size() / 3);
  struct Candidate {
    bool contains = false;
    std::size_t distance = 0;
    std::string label;
  };
  std::map<std::string, Candidate> by_zone;
  for (const auto& r : rows_) {
    const std::string name = fold(r.name);
    const bool contains = name.find(q) != std::string::npos ||
                          fold(r.zone).find(q) != std::string::npos ||
                          (name.size() >= 3 && q.find(name) != std::string::npos);
    std::size_t distance = edit_distance(q, name);
    for (const auto& id : {r.zone, r.alpha2, r.alpha3}) {
      if (!id.empty()) distance = std::min(distance, edit_distance(q, fold(id)));
    }
    auto [it, fresh] = by_zone.try_emplace(r.zone);
    Candidate& c = it->second;
    if (fresh) {
      c = {contains, distance, fmt::format("{} ({})", r.zone, r.name)};
    } else {
      c.contains = c.contains || contains;
      c.distance = std::min(c.distance, distance);
    }
    if (r.is_default) c.label = fmt::format("{} ({})", r.zone, r.name);
  }
  std::vector<Candidate> close;
  for (auto& [zone, c] : by_zone) {
    if (c.contains || c.distance <= max_distance) close.push_back(std::move(c));
  }
  std::ranges::stable_sort(close, [](const Candidate& a, const Candidate& b) {
    return std::make_pair(!a.contains, a.distance) < std::make_pair(!b.contains, b.distance);
  });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < close.size() && i < limit; ++i) out.push_back(close[i].label);
  return out;
}

}  // namespace jobcarbon::carbon
