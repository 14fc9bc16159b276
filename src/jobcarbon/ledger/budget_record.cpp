#include <jobcarbon/ledger/budget_record.hpp>

#include <cmath>

#include <fmt/format.h>

namespace jobcarbon::ledger {

std::optional<std::string> invalid_budget(const BudgetRecord& b) {
  if (b.account.empty()) return "account is empty";
  if (b.year < 1 || b.year > 9999) return fmt::format("year {} is outside 1..9999", b.year);
  if (b.limit_kg.has_value() == b.limit_energy.has_value()) {
    return "a budget needs exactly one limit: a CO2 mass (--limit) or an energy (--limit-kwh)";
  }
  if (b.limit_kg && (!std::isfinite(b.limit_kg->value) || b.limit_kg->value < 0)) {
    return fmt::format("limit {} kg is not a finite, non-negative mass", b.limit_kg->value);
  }
  if (b.limit_energy && b.limit_energy->value < 0) {
    return fmt::format("limit {} µJ is negative", b.limit_energy->value);
  }
  if (b.warn_at.basis_points < 0 || b.warn_at.basis_points > 10'000) {
    return fmt::format("warn threshold {} basis points is outside 0..100 %",
                       b.warn_at.basis_points);
  }
  return std::nullopt;
}

}  // namespace jobcarbon::ledger
