#include <jobcarbon/carbon/cpu_power_table.hpp>

#include <set>
#include <stdexcept>

#include <fmt/core.h>

#include <jobcarbon/carbon/csv.hpp>
#include <jobcarbon/carbon/text_match.hpp>
#include <jobcarbon/data/embedded.hpp>

namespace jobcarbon::carbon {
namespace {

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Return true when NEEDLE occurs in HAYSTACK with no letter or digit right before or after it,
// so "epyc 7543" does not match "epyc 7543p" and "gold 6148" does not match "gold 61480".
bool contains_words(std::string_view haystack, std::string_view needle) {
  for (auto pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + 1)) {
    const auto end = pos + needle.size();
    const bool left = pos == 0 || !is_word_char(haystack[pos - 1]) || !is_word_char(needle.front());
    const bool right =
        end == haystack.size() || !is_word_char(haystack[end]) || !is_word_char(needle.back());
    if (left && right) return true;
  }
  return false;
}

}  // namespace

std::string normalize_cpu_name(std::string_view name) {
  const std::string s = lower(name);
  std::string out;
  auto add_space = [&] {
    if (!out.empty() && out.back() != ' ') out += ' ';
  };
  for (std::size_t i = 0; i < s.size();) {
    bool mark = false;
    for (std::string_view m : {"(r)", "(tm)", "\xC2\xAE", "\xE2\x84\xA2"}) {
      if (std::string_view(s).substr(i).starts_with(m)) {
        add_space();  // "Xeon(R) Gold" reads as "xeon gold"
        i += m.size();
        mark = true;
        break;
      }
    }
    if (mark) continue;
    if (s[i] == ' ' || s[i] == '\t') {
      add_space();
    } else {
      out += s[i];
    }
    ++i;
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::expected<CpuPowerTable, std::string> CpuPowerTable::parse(std::string_view text,
                                                               std::string_view source) {
  auto csv = parse_csv(text, source);
  if (!csv) return std::unexpected(csv.error());
  return from_csv(*csv);
}

std::expected<CpuPowerTable, std::string> CpuPowerTable::load_file(
    const std::filesystem::path& path) {
  auto csv = read_csv_file(path);
  if (!csv) return std::unexpected(csv.error());
  return from_csv(*csv);
}

std::expected<CpuPowerTable, std::string> CpuPowerTable::load_embedded() {
  const auto text = data::embedded_file("cpu_tdp.csv");
  if (!text) return std::unexpected("cpu_tdp.csv is not embedded in this binary");
  return parse(*text, "cpu_tdp.csv (embedded)");
}

std::expected<CpuPowerTable, std::string> CpuPowerTable::from_csv(const CsvTable& csv) {
  std::vector<std::size_t> col;
  for (auto name : {"match", "tdp_w", "cores", "threads", "source"}) {
    auto c = csv.require_column(name);
    if (!c) return std::unexpected(c.error());
    col.push_back(*c);
  }
  enum { kMatch, kTdp, kCores, kThreads, kSource };
  CpuPowerTable table;
  bool have_default = false;
  std::set<std::string> seen;
  for (const auto& row : csv.rows) {
    auto error = [&](int which, std::string_view what) {
      return std::unexpected(fmt::format("{}: {}", csv.where(row, col[which]), what));
    };
    CpuPower p;
    p.model = std::string(trim(row.fields[col[kMatch]]));
    p.source = std::string(trim(row.fields[col[kSource]]));
    if (p.model.empty()) return error(kMatch, "empty");
    if (p.source.empty()) return error(kSource, "empty (every TDP needs its source)");
    const std::string normalized = normalize_cpu_name(p.model);
    if (!seen.insert(normalized).second) {
      return error(kMatch, fmt::format("'{}' appears twice", p.model));
    }
    auto tdp = number_field(csv, row, col[kTdp]);
    if (!tdp) return std::unexpected(tdp.error());
    if (*tdp <= 0 || *tdp > 2000) return error(kTdp, "must be between 0 and 2000 W");
    auto cores = integer_field(csv, row, col[kCores]);
    if (!cores) return std::unexpected(cores.error());
    if (*cores <= 0 || *cores > 1024) return error(kCores, "must be between 1 and 1024");
    if (!trim(row.fields[col[kThreads]]).empty()) {
      auto threads = integer_field(csv, row, col[kThreads]);
      if (!threads) return std::unexpected(threads.error());
      if (*threads < *cores || *threads > 8 * *cores) {
        return error(kThreads, "must be at least the number of cores");
      }
      p.threads = static_cast<int>(*threads);
    }
    p.tdp_w = *tdp;
    p.cores = static_cast<int>(*cores);
    p.watts_per_core = p.tdp_w / p.cores;
    if (p.model == "*") {
      p.is_default = true;
      table.default_ = std::move(p);
      have_default = true;
    } else {
      table.normalized_.push_back(normalized);
      table.models_.push_back(std::move(p));
    }
  }
  if (!have_default) {
    return std::unexpected(
        fmt::format("{}: no default row (match '*', the power per core used when no model matches)",
                    csv.source));
  }
  return table;
}

std::optional<CpuPower> CpuPowerTable::lookup(std::string_view cpu_model_name) const {
  const std::string name = normalize_cpu_name(cpu_model_name);
  const CpuPower* best = nullptr;
  std::size_t best_length = 0;
  for (std::size_t i = 0; i < models_.size(); ++i) {
    if (normalized_[i].size() > best_length && contains_words(name, normalized_[i])) {
      best = &models_[i];
      best_length = normalized_[i].size();
    }
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

namespace {
CpuPowerTable embedded_table() {
  auto table = CpuPowerTable::load_embedded();
  if (!table) throw std::logic_error(table.error());
  return std::move(*table);
}
}  // namespace

std::optional<CpuPower> lookup_cpu_power(std::string_view cpu_model_name) {
  return embedded_table().lookup(cpu_model_name);
}

CpuPower default_cpu_power() {
  return embedded_table().default_power();
}

}  // namespace jobcarbon::carbon
