// The budget half of the PostgreSQL ledger: budgets (audited by a trigger in the database),
// usage read from the running totals, account hierarchies. PgStore forwards to these; the
// running totals themselves are written by PgStore::append's statement. Internal to ledger/.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <vector>

#include <jobcarbon/ledger/budget_record.hpp>
#include <jobcarbon/ledger/job_record.hpp>
#include <jobcarbon/ledger/pg_connection.hpp>

namespace jobcarbon::ledger {

// See Store::set_budget. One transaction, serialised with other budget changes by an advisory
// lock; the audit row is the trigger's (who = the database role, client_user = WHO). A role
// without jobcarbon_admin's privileges gets an error naming it and the GRANT that would allow it.
std::expected<void, std::string> pg_set_budget(PgConnection& db, const BudgetRecord& budget,
                                               const std::optional<std::string>& parent,
                                               const std::string& who);

// See Store::list_budgets.
std::expected<std::vector<BudgetRecord>, std::string> pg_list_budgets(
    PgConnection& db, const std::optional<std::string>& account, std::optional<int> year);

// See Store::usage.
std::expected<Usage, std::string> pg_usage(PgConnection& db, const std::string& account,
                                           const std::string& user, int year);

// See Store::account_chain.
// See Store::usage_between.
std::expected<Usage, std::string> pg_usage_between(PgConnection& db, const std::string& account,
                                                   const std::string& user, Timestamp from,
                                                   Timestamp to);

std::expected<std::vector<std::string>, std::string> pg_account_chain(PgConnection& db,
                                                                      const std::string& account);

}  // namespace jobcarbon::ledger
