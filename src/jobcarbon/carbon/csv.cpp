#include <jobcarbon/carbon/csv.hpp>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

#include <fmt/core.h>

#include <jobcarbon/carbon/text_match.hpp>

namespace jobcarbon::carbon {
namespace {

// Show a field in an error message: quoted, and cut short so a garbage line stays readable.
std::string shown(std::string_view s) {
  constexpr std::size_t kMax = 40;
  std::string out;
  for (char c : s.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? fmt::format("\\x{:02x}", u) : std::string(1, c);
  }
  if (s.size() > kMax) out += "...";
  return "'" + out + "'";
}

// Splits the text into records; each record remembers the line it starts on.
class Reader {
 public:
  Reader(std::string_view text, std::string_view source) : text_(text), source_(source) {
    if (text_.starts_with("\xEF\xBB\xBF")) text_.remove_prefix(3);  // UTF-8 byte order mark
  }

  // Return every record, or the first syntax error.
  std::expected<std::vector<CsvRow>, std::string> records() {
    std::vector<CsvRow> out;
    CsvRow record{line_, {}};
    std::string field;
    bool in_quotes = false;    // inside a quoted field
    bool after_quote = false;  // the quoted field has closed; only , or end of line may follow
    bool record_open = false;  // something of the current record has been seen
    int quote_line = 0;
    auto end_field = [&] {
      record.fields.push_back(std::move(field));
      field.clear();
      after_quote = false;
    };
    auto end_record = [&] {
      end_field();
      // A blank line is one empty unquoted field: skip it.
      const bool blank = record.fields.size() == 1 && record.fields[0].empty() && !blank_quoted_;
      const std::size_t width = record.fields.size();
      if (!blank) out.push_back(std::move(record));
      record = CsvRow{line_, {}};
      record.fields.reserve(width);  // records are usually as wide as the one before
      record_open = false;
      blank_quoted_ = false;
    };
    for (std::size_t i = 0; i < text_.size(); ++i) {
      const char c = text_[i];
      if (in_quotes) {
        if (c == '"') {
          if (i + 1 < text_.size() && text_[i + 1] == '"') {
            field += '"';
            ++i;
          } else {
            in_quotes = false;
            after_quote = true;
          }
        } else if (c == '\n') {
          ++line_;
          field += c;
        } else {
          // Copy the run up to the next quote or line feed at once (the common case: no escapes).
          const auto n = run_length(i, /*quoted=*/true);
          field.append(text_.substr(i, n));
          i += n - 1;
        }
        continue;
      }
      if (c == '\n' || (c == '\r' && i + 1 < text_.size() && text_[i + 1] == '\n')) {
        if (c == '\r') ++i;
        ++line_;
        end_record();
        continue;
      }
      if (!record_open) record.line = line_;
      record_open = true;
      if (c == ',') {
        end_field();
      } else if (after_quote) {
        return std::unexpected(
            fmt::format("{}:{}: text after the closing quote of a field", source_, line_));
      } else if (c == '"') {
        if (!field.empty()) {
          return std::unexpected(fmt::format(
              "{}:{}: quote inside an unquoted field (quote the whole field and double the quote)",
              source_, line_));
        }
        in_quotes = true;
        blank_quoted_ = true;
        quote_line = line_;
      } else {
        // Copy the run up to the next delimiter at once.
        const auto n = run_length(i, /*quoted=*/false);
        field.append(text_.substr(i, n));
        i += n - 1;
      }
    }
    if (in_quotes) {
      return std::unexpected(fmt::format(
          "{}:{}: quoted field not closed before the end of the file", source_, quote_line));
    }
    if (record_open) end_record();
    return out;
  }

 private:
  // Return the length of the run of ordinary characters from I (at least 1: text_[I] is taken
  // whatever it is). Ends at a quote or line feed, and unquoted also at a comma or \r (a lone \r
  // is text, so it is looked at one by one).
  std::size_t run_length(std::size_t i, bool quoted) const {
    std::size_t j = i + 1;
    if (quoted) {
      while (j < text_.size() && text_[j] != '"' && text_[j] != '\n') ++j;
    } else {
      while (j < text_.size() && text_[j] != ',' && text_[j] != '"' && text_[j] != '\n' &&
             text_[j] != '\r') {
        ++j;
      }
    }
    return j - i;
  }

  std::string_view text_;
  std::string_view source_;
  int line_ = 1;
  bool blank_quoted_ = false;  // the record holds a quoted field, so it is not blank
};

}  // namespace

std::optional<std::size_t> CsvTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  return std::nullopt;
}

std::expected<std::size_t, std::string> CsvTable::require_column(std::string_view name) const {
  if (auto i = column(name)) return *i;
  return std::unexpected(
      fmt::format("{}:{}: the header has no column '{}'", source, header_line, name));
}

std::string CsvTable::where(const CsvRow& row, std::size_t col) const {
  return fmt::format("{}:{}: field '{}'", source, row.line,
                     col < header.size() ? header[col] : std::to_string(col + 1));
}

std::expected<CsvTable, std::string> parse_csv(std::string_view text, std::string_view source) {
  Reader reader(text, source);
  auto records = reader.records();
  if (!records) return std::unexpected(records.error());
  if (records->empty()) {
    return std::unexpected(fmt::format("{}:1: empty file, expected a header line", source));
  }
  CsvTable table;
  table.source = std::string(source);
  table.header_line = records->front().line;
  table.header = std::move(records->front().fields);
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < table.header.size(); ++i) {
    const auto& name = table.header[i];
    if (name.empty()) {
      return std::unexpected(fmt::format("{}:{}: header: column {} has no name", source,
                                         records->front().line, i + 1));
    }
    if (!seen.insert(name).second) {
      return std::unexpected(fmt::format("{}:{}: header: column '{}' appears twice", source,
                                         records->front().line, name));
    }
  }
  for (std::size_t r = 1; r < records->size(); ++r) {
    auto& rec = (*records)[r];
    if (rec.fields.size() != table.header.size()) {
      return std::unexpected(fmt::format("{}:{}: expected {} fields as in the header, found {}",
                                         source, rec.line, table.header.size(), rec.fields.size()));
    }
    table.rows.push_back(std::move(rec));
  }
  return table;
}

std::expected<CsvTable, std::string> read_csv_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::unexpected(fmt::format("{}: cannot open: {}", path.string(), std::strerror(errno)));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return std::unexpected(fmt::format("{}: read failed: {}", path.string(), std::strerror(errno)));
  }
  return parse_csv(text, path.string());
}

std::expected<double, std::string> number_field(const CsvTable& table, const CsvRow& row,
                                                std::size_t col) {
  const std::string_view s = trim(row.fields.at(col));
  double value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(value)) {
    return std::unexpected(
        fmt::format("{}: not a number: {}", table.where(row, col), shown(row.fields[col])));
  }
  return value;
}

std::expected<long long, std::string> integer_field(const CsvTable& table, const CsvRow& row,
                                                    std::size_t col) {
  const std::string_view s = trim(row.fields.at(col));
  long long value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return std::unexpected(
        fmt::format("{}: not an integer: {}", table.where(row, col), shown(row.fields[col])));
  }
  return value;
}

}  // namespace jobcarbon::carbon
