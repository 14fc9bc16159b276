// The report half of the SQLite ledger: usage grouped in SQL (GROUP BY over the jobs table).
// SqliteStore forwards to this. Internal to ledger/.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include <jobcarbon/ledger/report_query.hpp>
#include <jobcarbon/ledger/sqlite_connection.hpp>

namespace jobcarbon::ledger {

// See Store::append_idle. Runs in autocommit (one statement).
std::expected<bool, std::string> append_idle(SqliteConnection& db, const NodeIdle& idle);

// See Store::report_rows. Groupings by account, user or month whose bounds are month starts (or
// absent) read the monthly roll-ups; the others scan the jobs table. Both give the same rows.
std::expected<std::vector<ReportRow>, std::string> report_rows(SqliteConnection& db,
                                                               const ReportQuery& query);

}  // namespace jobcarbon::ledger
