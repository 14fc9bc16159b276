#include "ledger_table.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>

#include <fmt/format.h>

namespace jobcarbon::bench {
namespace {

double ms(std::chrono::nanoseconds d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

ResultRow latency_row(std::string what, std::vector<std::chrono::nanoseconds> times,
                      bool with_p99) {
  ResultRow r{std::move(what), times.size(), {}, {}, {}, {}, ""};
  if (times.empty()) return r;
  std::ranges::sort(times);
  const auto rank = [&](double q) {  // nearest rank: the smallest value with q of them at or below
    const auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(times.size())));
    return ms(times[std::max<std::size_t>(k, 1) - 1]);
  };
  r.p50_ms = rank(0.5);
  if (with_p99) r.p99_ms = rank(0.99);
  r.max_ms = ms(times.back());
  std::chrono::nanoseconds total{0};
  for (auto t : times) total += t;
  r.total_s = std::chrono::duration<double>(total).count();
  return r;
}

ResultRow rate_row(std::string what, std::size_t rows, std::vector<std::chrono::nanoseconds> times,
                   bool per_row) {
  ResultRow r = latency_row(std::move(what), std::move(times), per_row);
  if (!per_row) r.p50_ms = r.p99_ms = r.max_ms = std::nullopt;  // per transaction, not per row
  r.n = rows;
  if (r.total_s && *r.total_s > 0) {
    r.rate = fmt::format("{:.0f} rows/s", static_cast<double>(rows) / *r.total_s);
  }
  return r;
}

void print_table(const std::vector<ResultRow>& rows) {
  const auto cell = [](std::optional<double> v, std::string_view unit) {
    return v ? fmt::format("{:.3f} {}", *v, unit) : std::string("—");
  };
  fmt::print("| measurement | n | p50 | p99 | max | total | rate |\n");
  fmt::print("|---|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& r : rows) {
    fmt::print("| {} | {} | {} | {} | {} | {} | {} |\n", r.what, r.n, cell(r.p50_ms, "ms"),
               cell(r.p99_ms, "ms"), cell(r.max_ms, "ms"), cell(r.total_s, "s"),
               r.rate.empty() ? "—" : r.rate);
  }
}

}  // namespace jobcarbon::bench
