#include <jobcarbon/ledger/sqlite_budgets.hpp>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/sqlite_periods.hpp>
#include <jobcarbon/ledger/usage_split.hpp>
#include <jobcarbon/policy/budget_period.hpp>

namespace jobcarbon::ledger {
namespace {

// Portable UPSERT (SQLite ≥ 3.24 and PostgreSQL ≥ 9.5 spell it the same way).
constexpr std::string_view kAddUsage = R"sql(
INSERT INTO usage_totals (account, user_name, period_year, co2_kg, energy_uj, jobs)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (account, user_name, period_year) DO UPDATE SET
  co2_kg = usage_totals.co2_kg + excluded.co2_kg,
  energy_uj = usage_totals.energy_uj + excluded.energy_uj,
  jobs = usage_totals.jobs + excluded.jobs
)sql";

// ACCOUNT and every account below it (recursive over account_parents; a cycle entered by hand
// ends because UNION drops rows already seen).
constexpr std::string_view kSubtree = R"sql(
WITH RECURSIVE subtree(account) AS (
  SELECT ?1 UNION SELECT p.account FROM account_parents p JOIN subtree s ON p.parent = s.account)
)sql";

std::string now_iso() {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                     std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
}

std::string rollback_with(SqliteConnection& db, std::string message) {
  (void)db.exec("ROLLBACK");
  return message;
}

nlohmann::json to_json(const BudgetRecord& b, const std::optional<std::string>& parent) {
  nlohmann::json j;
  j["limit_kg"] = b.limit_kg ? nlohmann::json(b.limit_kg->value) : nlohmann::json(nullptr);
  j["limit_uj"] = b.limit_energy ? nlohmann::json(b.limit_energy->value) : nlohmann::json(nullptr);
  j["policy"] = policy::to_string(b.policy);
  j["warn_at_bp"] = b.warn_at.basis_points;
  if (parent) j["parent"] = *parent;
  return j;
}

BudgetRecord read_budget(const SqliteStatement& s) {
  BudgetRecord b;
  b.account = s.text(0);
  b.user = s.text(1);
  b.year = static_cast<int>(s.int64(2));
  if (!s.is_null(3)) b.limit_kg = KgCo2{s.real(3)};
  if (!s.is_null(4)) b.limit_energy = Microjoules(s.int64(4));
  b.policy = policy::parse_policy(s.text(5)).value_or(policy::Policy::kWarn);
  b.warn_at.basis_points = static_cast<std::int32_t>(s.int64(6));
  b.updated_at = s.text(7);
  b.updated_by = s.text(8);
  return b;
}

constexpr std::string_view kBudgetColumns =
    "SELECT account, user_name, period_year, limit_kg, limit_uj, policy, warn_at_bp, updated_at, "
    "updated_by FROM budgets";

}  // namespace

// Return why this process may not change budgets on the ledger file, or nullopt when it may:
// root, or the file's owner (a workstation ledger is its user's own).
std::optional<std::string> budget_change_denied(const SqliteConnection& db) {
  struct stat st {};
  if (::stat(db.path().c_str(), &st) != 0) return std::nullopt;  // just created by us
  const uid_t me = ::geteuid();
  if (me == 0 || st.st_uid == me) return std::nullopt;
  return fmt::format(
      "{}: only the ledger's owner (uid {}) or root may change budgets; you are uid {}. Nothing "
      "was changed",
      db.path().string(), st.st_uid, me);
}

std::expected<void, std::string> add_usage(SqliteConnection& db, const JobRecord& job) {
  // The periods as the ledger says now, read inside the append's transaction.
  auto from = read_year_start(db);
  if (!from) return std::unexpected(from.error());
  auto deltas = usage_deltas(job, *from);
  if (!deltas) return std::unexpected(fmt::format("{}: {}", db.path().string(), deltas.error()));
  auto stmt = db.prepare(kAddUsage);
  if (!stmt) return std::unexpected(stmt.error());
  for (const auto& d : *deltas) {
    stmt->bind(1, d.account);
    stmt->bind(2, d.user);
    stmt->bind(3, d.year);
    stmt->bind(4, d.co2_kg);
    stmt->bind(5, d.energy.value);
    stmt->bind(6, d.jobs);
    const int rc = stmt->step();
    stmt->reset();
    if (rc != SQLITE_DONE) return std::unexpected(db.error(rc));
  }
  return {};
}

std::expected<void, std::string> set_budget(SqliteConnection& db, const BudgetRecord& budget,
                                            const std::optional<std::string>& parent,
                                            const std::string& who) {
  if (auto bad = invalid_budget(budget)) {
    return std::unexpected(fmt::format("{}: {}; nothing was changed", db.path().string(), *bad));
  }
  if (parent && (parent->empty() || *parent == budget.account)) {
    return std::unexpected(fmt::format("{}: account '{}' cannot have parent '{}'",
                                       db.path().string(), budget.account, *parent));
  }
  if (auto denied = budget_change_denied(db)) return std::unexpected(*denied);
  if (auto b = db.exec("BEGIN IMMEDIATE"); !b) return std::unexpected(b.error());

  // A parent must not lie below the account: that would make a cycle.
  if (parent) {
    auto chain = account_chain(db, *parent);
    if (!chain) return std::unexpected(rollback_with(db, chain.error()));
    for (const auto& a : *chain) {
      if (a == budget.account) {
        return std::unexpected(rollback_with(
            db, fmt::format("{}: '{}' is below '{}' already; making it the parent would form a "
                            "cycle. Nothing was changed",
                            db.path().string(), *parent, budget.account)));
      }
    }
  }
  auto old_stmt = db.prepare(std::string(kBudgetColumns) +
                             " WHERE account = ?1 AND user_name = ?2 AND period_year = ?3");
  if (!old_stmt) return std::unexpected(rollback_with(db, old_stmt.error()));
  old_stmt->bind(1, budget.account);
  old_stmt->bind(2, budget.user);
  old_stmt->bind(3, budget.year);
  std::optional<BudgetRecord> old;
  if (const int rc = old_stmt->step(); rc == SQLITE_ROW) {
    old = read_budget(*old_stmt);
  } else if (rc != SQLITE_DONE) {
    return std::unexpected(rollback_with(db, db.error(rc)));
  }
  auto old_parent_stmt = db.prepare("SELECT parent FROM account_parents WHERE account = ?1");
  if (!old_parent_stmt) return std::unexpected(rollback_with(db, old_parent_stmt.error()));
  old_parent_stmt->bind(1, budget.account);
  std::optional<std::string> old_parent;
  if (old_parent_stmt->step() == SQLITE_ROW) old_parent = old_parent_stmt->text(0);

  const std::string at = now_iso();
  auto put = db.prepare(R"sql(
INSERT INTO budgets (account, user_name, period_year, limit_kg, limit_uj, policy, warn_at_bp,
  updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (account, user_name, period_year) DO UPDATE SET limit_kg = excluded.limit_kg,
  limit_uj = excluded.limit_uj, policy = excluded.policy, warn_at_bp = excluded.warn_at_bp,
  updated_at = excluded.updated_at, updated_by = excluded.updated_by)sql");
  if (!put) return std::unexpected(rollback_with(db, put.error()));
  put->bind(1, budget.account);
  put->bind(2, budget.user);
  put->bind(3, budget.year);
  if (budget.limit_kg) put->bind(4, budget.limit_kg->value);  // unbound: NULL
  if (budget.limit_energy) put->bind(5, budget.limit_energy->value);
  put->bind(6, policy::to_string(budget.policy));
  put->bind(7, static_cast<std::int64_t>(budget.warn_at.basis_points));
  put->bind(8, at);
  put->bind(9, who);
  if (const int rc = put->step(); rc != SQLITE_DONE) {
    return std::unexpected(rollback_with(db, db.error(rc)));
  }
  if (parent) {
    auto link = db.prepare(
        "INSERT INTO account_parents (account, parent) VALUES (?1, ?2) "
        "ON CONFLICT (account) DO UPDATE SET parent = excluded.parent");
    if (!link) return std::unexpected(rollback_with(db, link.error()));
    link->bind(1, budget.account);
    link->bind(2, *parent);
    if (const int rc = link->step(); rc != SQLITE_DONE) {
      return std::unexpected(rollback_with(db, db.error(rc)));
    }
  }
  auto audit = db.prepare(
      "INSERT INTO budget_audit (at, who, account, user_name, period_year, old, new) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!audit) return std::unexpected(rollback_with(db, audit.error()));
  audit->bind(1, at);
  audit->bind(2, who);
  audit->bind(3, budget.account);
  audit->bind(4, budget.user);
  audit->bind(5, budget.year);
  if (old) audit->bind(6, to_json(*old, old_parent).dump());
  audit->bind(7, to_json(budget, parent ? parent : old_parent).dump());
  if (const int rc = audit->step(); rc != SQLITE_DONE) {
    return std::unexpected(rollback_with(db, db.error(rc)));
  }
  if (auto c = db.exec("COMMIT"); !c) return std::unexpected(rollback_with(db, c.error()));
  return {};
}

std::expected<std::vector<BudgetRecord>, std::string> list_budgets(
    SqliteConnection& db, const std::optional<std::string>& account, std::optional<int> year) {
  // Separate texts with and without an account, so that the account's lookup uses the key's
  // index (an "?1 IS NULL OR" condition would scan every budget).
  auto cached =
      db.cached(std::string(kBudgetColumns) + (account ? " WHERE account = ?1" : " WHERE 1") +
                " AND (?2 IS NULL OR period_year = ?2)"
                " ORDER BY period_year, account, user_name");
  if (!cached) return std::unexpected(cached.error());
  auto& stmt = *cached;
  if (account) stmt->bind(1, *account);
  if (year) stmt->bind(2, *year);
  std::vector<BudgetRecord> out;
  int rc;
  while ((rc = stmt->step()) == SQLITE_ROW) out.push_back(read_budget(*stmt));
  if (rc != SQLITE_DONE) return std::unexpected(db.error(rc));
  return out;
}

std::expected<Usage, std::string> usage(SqliteConnection& db, const std::string& account,
                                        const std::string& user, int year) {
  auto cached = db.cached(std::string(kSubtree) +
                          "SELECT coalesce(sum(co2_kg), 0), coalesce(sum(energy_uj), 0), "
                          "coalesce(sum(jobs), 0) FROM usage_totals WHERE account IN "
                          "(SELECT account FROM subtree) AND user_name = ?2 AND period_year = ?3");
  if (!cached) return std::unexpected(cached.error());
  auto& stmt = *cached;
  stmt->bind(1, account);
  stmt->bind(2, user);
  stmt->bind(3, year);
  const int rc = stmt->step();
  if (rc != SQLITE_ROW) return std::unexpected(db.error(rc));
  return Usage{KgCo2{stmt->real(0)}, Microjoules(stmt->int64(1)), stmt->int64(2)};
}

std::expected<Usage, std::string> usage_between(SqliteConnection& db, const std::string& account,
                                                const std::string& user, Timestamp from,
                                                Timestamp to) {
  auto cached = db.cached(R"sql(
WITH RECURSIVE subtree(account) AS (
  SELECT ?1 UNION SELECT p.account FROM account_parents p JOIN subtree s ON p.parent = s.account)
SELECT coalesce(sum(co2_kg), 0), coalesce(sum(charged_uj), 0), count(*) FROM jobs
WHERE account IN (SELECT account FROM subtree) AND (?2 = '' OR user_name = ?2)
  AND start_us >= ?3 AND start_us < ?4
)sql");
  if (!cached) return std::unexpected(cached.error());
  auto& stmt = *cached;
  stmt->bind(1, account);
  stmt->bind(2, user);
  stmt->bind(3, static_cast<std::int64_t>(from.time_since_epoch().count()));
  stmt->bind(4, static_cast<std::int64_t>(to.time_since_epoch().count()));
  const int rc = stmt->step();
  if (rc != SQLITE_ROW) return std::unexpected(db.error(rc));
  return Usage{KgCo2{stmt->real(0)}, Microjoules(stmt->int64(1)), stmt->int64(2)};
}

std::expected<std::vector<std::string>, std::string> account_chain(SqliteConnection& db,
                                                                   const std::string& account) {
  auto cached = db.cached("SELECT parent FROM account_parents WHERE account = ?1");
  if (!cached) return std::unexpected(cached.error());
  auto& stmt = *cached;
  std::vector<std::string> chain{account};
  while (true) {
    stmt->bind(1, chain.back());
    const int rc = stmt->step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return std::unexpected(db.error(rc));
    std::string parent = stmt->text(0);
    stmt->reset();
    if (std::find(chain.begin(), chain.end(), parent) != chain.end()) break;  // a cycle
    chain.push_back(std::move(parent));
  }
  return chain;
}

}  // namespace jobcarbon::ledger
