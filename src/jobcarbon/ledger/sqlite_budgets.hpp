// The budget half of the SQLite ledger: running usage totals kept with each append, budgets with
// their audit trail, account hierarchies. SqliteStore forwards to these. Internal to ledger/.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include <jobcarbon/ledger/budget_record.hpp>
#include <jobcarbon/ledger/job_record.hpp>
#include <jobcarbon/ledger/sqlite_connection.hpp>

namespace jobcarbon::ledger {

// Add a newly inserted job to usage_totals, for (account, user) and (account, ''), split among
// calendar years by time (policy::split_energy; CO2 in the same proportion). The caller owns the
// transaction and calls this only when the job row was inserted.
std::expected<void, std::string> add_usage(SqliteConnection& db, const JobRecord& job);

// Return why this process may not change budgets (or the budget year) on the ledger file, or
// nullopt when it may: root, or the file's owner (a workstation ledger is its user's own).
std::optional<std::string> budget_change_denied(const SqliteConnection& db);

// See Store::set_budget. Owns its IMMEDIATE transaction. Refuses a caller whose effective uid is
// neither root nor the owner of the ledger file.
std::expected<void, std::string> set_budget(SqliteConnection& db, const BudgetRecord& budget,
                                            const std::optional<std::string>& parent,
                                            const std::string& who);

// See Store::list_budgets.
std::expected<std::vector<BudgetRecord>, std::string> list_budgets(
    SqliteConnection& db, const std::optional<std::string>& account, std::optional<int> year);

// See Store::usage.
std::expected<Usage, std::string> usage(SqliteConnection& db, const std::string& account,
                                        const std::string& user, int year);

// See Store::account_chain.
// See Store::usage_between.
std::expected<Usage, std::string> usage_between(SqliteConnection& db, const std::string& account,
                                                const std::string& user, Timestamp from,
                                                Timestamp to);

std::expected<std::vector<std::string>, std::string> account_chain(SqliteConnection& db,
                                                                   const std::string& account);

}  // namespace jobcarbon::ledger
