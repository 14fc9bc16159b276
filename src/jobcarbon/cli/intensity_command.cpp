#include <jobcarbon/cli/intensity_command.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace jobcarbon::cli {
namespace {

// Names can be long ("Western Area Power Administration - ..."); the table cuts them here and
// --json has them whole.
constexpr std::size_t kMaxNameWidth = 40;

// Return the number of characters of UTF-8 text S (names hold "Québec", "Tōkyō").
std::size_t width(std::string_view s) {
  return static_cast<std::size_t>(std::ranges::count_if(
      s, [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// Return S cut to at most MAX characters, ending in "..." when cut.
std::string clip(std::string_view s, std::size_t max) {
  if (width(s) <= max) return std::string(s);
  std::string out;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool starts_char = (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    if (starts_char && chars++ == max - 3) break;
    out += s[i];
  }
  return out + "...";
}

std::string pad(std::string_view s, std::size_t w) {
  return std::string(s) + std::string(w > width(s) ? w - width(s) : 0, ' ');
}

std::string kg_text(double kg) {
  return fmt::format("{:.4f}", kg);
}

}  // namespace

std::string render_intensity_table(const std::vector<carbon::IntensityRow>& rows) {
  struct Line {
    std::string zone, name, dataset, year, kg, basis, source;
  };
  std::vector<Line> lines = {{"zone", "name", "dataset", "year", "kg/kWh", "basis", "source"}};
  std::vector<std::string> credits;
  for (const auto& r : rows) {
    lines.push_back({r.zone, clip(r.name, kMaxNameWidth), r.dataset + (r.is_default ? " *" : ""),
                     std::to_string(r.year), kg_text(r.kg_per_kwh), r.basis, r.source});
    const std::string credit = fmt::format("{}: {}", r.source, r.licence);
    if (std::ranges::find(credits, credit) == credits.end()) credits.push_back(credit);
  }
  std::size_t w[6] = {};
  for (const auto& l : lines) {
    const std::string_view cells[6] = {l.zone, l.name, l.dataset, l.year, l.kg, l.basis};
    for (int i = 0; i < 6; ++i) w[i] = std::max(w[i], width(cells[i]));
  }
  std::string out;
  for (const auto& l : lines) {
    const std::string kg(w[4] > width(l.kg) ? w[4] - width(l.kg) : 0, ' ');
    out += fmt::format("{}  {}  {}  {}  {}{}  {}  {}\n", pad(l.zone, w[0]), pad(l.name, w[1]),
                       pad(l.dataset, w[2]), pad(l.year, w[3]), kg, l.kg, pad(l.basis, w[5]),
                       l.source);
  }
  out += fmt::format("{} row{}; * marks the default dataset of a zone (used without --dataset).\n",
                     rows.size(), rows.size() == 1 ? "" : "s");
  out += fmt::format("Data: {}.\n", fmt::join(credits, "; "));
  return out;
}

std::string render_intensity_json(const std::vector<carbon::IntensityRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    out.push_back({{"zone", r.zone},
                   {"name", r.name},
                   {"alpha2", r.alpha2},
                   {"alpha3", r.alpha3},
                   {"dataset", r.dataset},
                   {"default", r.is_default},
                   {"year", r.year},
                   {"kg_per_kwh", r.kg_per_kwh},
                   {"basis", r.basis},
                   {"source", r.source},
                   {"licence", r.licence},
                   {"note", r.note}});
  }
  return out.dump(2) + "\n";
}

std::string run_intensity_query(const carbon::IntensityTable& table, const IntensityQuery& q) {
  const auto datasets = table.datasets();
  if (!q.dataset.empty() && std::ranges::find(datasets, q.dataset) == datasets.end()) {
    throw std::runtime_error(fmt::format("--dataset: unknown dataset '{}'; datasets: {}", q.dataset,
                                         fmt::join(datasets, ", ")));
  }
  const auto rows = table.search(q.query, q.dataset);
  if (rows.empty()) {
    const auto close = table.closest_matches(q.query);
    throw std::runtime_error(fmt::format(
        "no zone matches '{}'{}; closest matches: {}", q.query,
        q.dataset.empty() ? "" : fmt::format(" in dataset '{}'", q.dataset),
        close.empty() ? std::string("none close") : fmt::format("{}", fmt::join(close, ", "))));
  }
  return q.json ? render_intensity_json(rows) : render_intensity_table(rows);
}

void add_intensity_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "intensity", "List and search the grid carbon intensity table (zones, datasets, sources)");
  auto q = std::make_shared<IntensityQuery>();
  cmd->add_option("query", q->query,
                  "Zone id, ISO 3166 alpha-2/alpha-3 code, or part of a name (e.g. DE, SE-SE1, "
                  "california); all rows when omitted");
  cmd->add_option("--dataset", q->dataset,
                  "Only this dataset (ember, electricitymaps, eea-2016-study, ...)");
  cmd->add_flag("--json", q->json, "Print JSON instead of a table");
  cmd->add_option("--intensity-table", q->table_file,
                  "Use this CSV table instead of the one built in (same columns as "
                  "data/intensity.csv)");
  cmd->callback([q]() {
    auto table = q->table_file.empty() ? carbon::IntensityTable::load_embedded()
                                       : carbon::IntensityTable::load_file(q->table_file);
    if (!table) throw std::runtime_error(table.error());
    fmt::print("{}", run_intensity_query(*table, *q));
  });
}

}  // namespace jobcarbon::cli
