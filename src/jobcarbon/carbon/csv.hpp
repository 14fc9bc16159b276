// A small CSV reader (RFC 4180: commas, double quotes, "" inside quotes, LF or CRLF) for the data
// tables under data/ and the files that override them. Errors name the file, line and field, since
// these files are edited by hand.
#pragma once

#include <cstddef>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobcarbon::carbon {

// One record of a CSV file: its fields and the line it starts on (1-based).
struct CsvRow {
  int line = 0;
  std::vector<std::string> fields;
};

// A parsed CSV file: the header (first record) and the records after it, each with exactly as
// many fields as the header. Blank lines are skipped.
struct CsvTable {
  std::string source;   // file name used in error messages
  int header_line = 1;  // line of the header record
  std::vector<std::string> header;
  std::vector<CsvRow> rows;

  // Return the index of the column NAME, or std::nullopt if the header has none.
  std::optional<std::size_t> column(std::string_view name) const;
  // Return the index of the column NAME, or an error "SOURCE:LINE: the header has no column
  // 'NAME'".
  std::expected<std::size_t, std::string> require_column(std::string_view name) const;
  // Return "SOURCE:LINE: field 'NAME'", the prefix of an error about one field of one row.
  std::string where(const CsvRow& row, std::size_t column) const;
};

// Parse TEXT as CSV. SOURCE names it in errors. Return the table, or an error "SOURCE:LINE: ..."
// naming the line: an unterminated quote, a quote inside an unquoted field, text after a closing
// quote, a record with a different number of fields than the header, an empty or duplicate header
// name, no header (line 1).
std::expected<CsvTable, std::string> parse_csv(std::string_view text, std::string_view source);

// Read and parse the CSV file at PATH; errors name the path.
std::expected<CsvTable, std::string> read_csv_file(const std::filesystem::path& path);

// Return the field as a finite number, or an error "SOURCE:LINE: field 'NAME': not a number: 'x'".
std::expected<double, std::string> number_field(const CsvTable& table, const CsvRow& row,
                                                std::size_t column);
// Return the field as an integer, or an error naming the line and field.
std::expected<long long, std::string> integer_field(const CsvTable& table, const CsvRow& row,
                                                    std::size_t column);

}  // namespace jobcarbon::carbon
