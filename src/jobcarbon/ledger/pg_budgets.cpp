#include <jobcarbon/ledger/pg_budgets.hpp>

#include <algorithm>
#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace jobcarbon::ledger {
namespace {

// The advisory lock that serialises budget changes, so the cycle check and the change see the
// same hierarchy ("JCBB").
constexpr std::int64_t kBudgetLock = 0x4A434242;

constexpr std::string_view kBudgetColumns =
    "SELECT account, user_name, period_year, limit_kg, limit_uj, policy, warn_at_bp, updated_at, "
    "updated_by FROM budgets";

std::string now_iso() {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                     std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
}

BudgetRecord read_budget(const PgResult& s, int row) {
  BudgetRecord b;
  b.account = s.text(row, 0);
  b.user = s.text(row, 1);
  b.year = static_cast<int>(s.int64(row, 2));
  if (!s.is_null(row, 3)) b.limit_kg = KgCo2{s.real(row, 3)};
  if (!s.is_null(row, 4)) b.limit_energy = Microjoules(s.int64(row, 4));
  b.policy = policy::parse_policy(s.text(row, 5)).value_or(policy::Policy::kWarn);
  b.warn_at.basis_points = static_cast<std::int32_t>(s.int64(row, 6));
  b.updated_at = s.text(row, 7);
  b.updated_by = s.text(row, 8);
  return b;
}

// The message for a statement of set_budget that failed; "permission denied" says which role
// lacks what and how to grant it.
std::string explain(const PgConnection& db, const PgError& e) {
  if (e.sqlstate != "42501") return e.message;
  return fmt::format(
      "{}: role '{}' may not change budgets ({}): budgets and account parents are changed by "
      "members of jobcarbon_admin; the database owner can allow it with GRANT jobcarbon_admin TO "
      "\"{}\". Nothing was changed",
      db.describe(), db.user(), e.message.substr(db.describe().size() + 2), db.user());
}

}  // namespace

std::expected<void, std::string> pg_set_budget(PgConnection& db, const BudgetRecord& budget,
                                               const std::optional<std::string>& parent,
                                               const std::string& who) {
  if (auto bad = invalid_budget(budget)) {
    return std::unexpected(fmt::format("{}: {}; nothing was changed", db.describe(), *bad));
  }
  if (parent && (parent->empty() || *parent == budget.account)) {
    return std::unexpected(fmt::format("{}: account '{}' cannot have parent '{}'", db.describe(),
                                       budget.account, *parent));
  }
  auto fail = [&db](std::string message) -> std::expected<void, std::string> {
    if (db.in_transaction()) (void)db.exec("ROLLBACK");
    return std::unexpected(std::move(message));
  };
  if (auto b = db.exec("BEGIN"); !b) return fail(b.error().message);
  // WHO and the parent before this change, for the audit trigger (transaction-local settings).
  auto setup = db.exec(
      "SELECT pg_advisory_xact_lock($1), set_config('jobcarbon.who', $2, true), "
      "set_config('jobcarbon.old_parent', coalesce((SELECT 'p:' || parent FROM account_parents "
      "WHERE account = $3), 'none'), true)",
      PgParams().add(kBudgetLock).add(who).add(budget.account));
  if (!setup) return fail(explain(db, setup.error()));

  // A parent must not lie below the account: that would make a cycle.
  if (parent) {
    auto chain = pg_account_chain(db, *parent);
    if (!chain) return fail(chain.error());
    if (std::find(chain->begin(), chain->end(), budget.account) != chain->end()) {
      return fail(fmt::format(
          "{}: '{}' is below '{}' already; making it the parent would form a cycle. Nothing was "
          "changed",
          db.describe(), *parent, budget.account));
    }
    auto link = db.exec(
        "INSERT INTO account_parents (account, parent) VALUES ($1, $2) "
        "ON CONFLICT (account) DO UPDATE SET parent = excluded.parent",
        PgParams().add(budget.account).add(*parent));
    if (!link) return fail(explain(db, link.error()));
  }
  auto put = db.exec(
      R"sql(
INSERT INTO budgets (account, user_name, period_year, limit_kg, limit_uj, policy, warn_at_bp,
  updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (account, user_name, period_year) DO UPDATE SET limit_kg = excluded.limit_kg,
  limit_uj = excluded.limit_uj, policy = excluded.policy, warn_at_bp = excluded.warn_at_bp,
  updated_at = excluded.updated_at, updated_by = excluded.updated_by)sql",
      PgParams()
          .add(budget.account)
          .add(budget.user)
          .add(budget.year)
          .add(budget.limit_kg ? std::optional<double>(budget.limit_kg->value) : std::nullopt)
          .add(budget.limit_energy ? std::optional<std::int64_t>(budget.limit_energy->value)
                                   : std::nullopt)
          .add(policy::to_string(budget.policy))
          .add(static_cast<std::int64_t>(budget.warn_at.basis_points))
          .add(now_iso())
          .add(who));
  if (!put) return fail(explain(db, put.error()));
  if (auto c = db.exec("COMMIT"); !c) return fail(explain(db, c.error()));
  return {};
}

std::expected<std::vector<BudgetRecord>, std::string> pg_list_budgets(
    PgConnection& db, const std::optional<std::string>& account, std::optional<int> year) {
  auto rows =
      db.exec_cached(std::string(kBudgetColumns) +
                         " WHERE ($1::text IS NULL OR account = $1) AND ($2::integer IS NULL OR "
                         "period_year = $2) ORDER BY period_year, account, user_name",
                     PgParams().add(account).add(year));
  if (!rows) return std::unexpected(rows.error().message);
  std::vector<BudgetRecord> out;
  for (int i = 0; i < rows->rows(); ++i) out.push_back(read_budget(*rows, i));
  return out;
}

std::expected<Usage, std::string> pg_usage(PgConnection& db, const std::string& account,
                                           const std::string& user, int year) {
  // ACCOUNT and every account below it; UNION ends a cycle entered by hand. LATERAL makes each
  // account a key lookup: with "account IN (subtree)" the planner, expecting hundreds of
  // accounts in the subtree, scanned every total (3 ms at 20,000 rows). OFFSET 0 keeps the
  // subquery from being flattened back into that join.
  auto row = db.exec_cached(R"sql(
WITH RECURSIVE subtree(account) AS (
  SELECT $1::text COLLATE "C"
  UNION SELECT p.account FROM account_parents p JOIN subtree s ON p.parent = s.account)
SELECT coalesce(sum(u.co2_kg), 0), coalesce(sum(u.energy_uj), 0), coalesce(sum(u.jobs), 0)
FROM subtree s, LATERAL (SELECT co2_kg, energy_uj, jobs FROM usage_totals t
                         WHERE t.account = s.account AND t.user_name = $2
                           AND t.period_year = $3 OFFSET 0) u)sql",
                            PgParams().add(account).add(user).add(year));
  if (!row) return std::unexpected(row.error().message);
  return Usage{KgCo2{row->real(0, 0)}, Microjoules(row->int64(0, 1)), row->int64(0, 2)};
}

std::expected<Usage, std::string> pg_usage_between(PgConnection& db, const std::string& account,
                                                   const std::string& user, Timestamp from,
                                                   Timestamp to) {
  auto row = db.exec_cached(R"sql(
WITH RECURSIVE subtree(account) AS (
  SELECT $1::text COLLATE "C"
  UNION SELECT p.account FROM account_parents p JOIN subtree s ON p.parent = s.account)
SELECT coalesce(sum(co2_kg), 0), coalesce(sum(charged_uj), 0)::bigint, count(*) FROM jobs
WHERE account IN (SELECT account FROM subtree) AND ($2::text = '' OR user_name = $2::text)
  AND start_us >= $3 AND start_us < $4)sql",
                            PgParams()
                                .add(account)
                                .add(user)
                                .add(static_cast<std::int64_t>(from.time_since_epoch().count()))
                                .add(static_cast<std::int64_t>(to.time_since_epoch().count())));
  if (!row) return std::unexpected(row.error().message);
  return Usage{KgCo2{row->real(0, 0)}, Microjoules(row->int64(0, 1)), row->int64(0, 2)};
}

std::expected<std::vector<std::string>, std::string> pg_account_chain(PgConnection& db,
                                                                      const std::string& account) {
  // Upwards one parent at a time, stopping before an account already in the chain (a cycle).
  auto rows = db.exec_cached(R"sql(
WITH RECURSIVE chain(account, depth, seen) AS (
  SELECT $1::text COLLATE "C", 0, ARRAY[$1::text COLLATE "C"]
  UNION ALL
  SELECT p.parent, c.depth + 1, c.seen || p.parent
  FROM chain c JOIN account_parents p ON p.account = c.account
  WHERE NOT p.parent = ANY (c.seen))
SELECT account FROM chain ORDER BY depth)sql",
                             PgParams().add(account));
  if (!rows) return std::unexpected(rows.error().message);
  std::vector<std::string> out;
  for (int i = 0; i < rows->rows(); ++i) out.push_back(rows->text(i, 0));
  return out;
}

}  // namespace jobcarbon::ledger
