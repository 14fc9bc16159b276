// The ledger benchmark's results table: one row per measurement, latencies as nearest-rank
// percentiles in ms, printed as a Markdown table that docs/benchmarks.md quotes as it is.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace jobcarbon::bench {

// One line of the results table.
struct ResultRow {
  std::string what;
  std::size_t n = 0;  // calls, rows or runs
  std::optional<double> p50_ms, p99_ms, max_ms;
  std::optional<double> total_s;  // sum of the timed intervals
  std::string rate;               // "12345 rows/s", or a note; "" for none
};

// Return WHAT's row for TIMES, one per call: p50, p99 (unless !WITH_P99: too few calls), max
// and their sum.
ResultRow latency_row(std::string what, std::vector<std::chrono::nanoseconds> times,
                      bool with_p99 = true);

// Return WHAT's row for ROWS rows written in TIMES: the rate in rows per second of the timed
// intervals' sum; with latencies when PER_ROW (one interval per row), else only the total (the
// intervals are transactions of many rows).
ResultRow rate_row(std::string what, std::size_t rows, std::vector<std::chrono::nanoseconds> times,
                   bool per_row);

// Print ROWS as a Markdown table on stdout ("—" for what a row does not have).
void print_table(const std::vector<ResultRow>& rows);

}  // namespace jobcarbon::bench
