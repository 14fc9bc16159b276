// The report half of the PostgreSQL ledger: usage grouped in SQL, with the same keys ("2026-01",
// "2026-W01") and the same byte order of keys as the SQLite ledger's. PgStore forwards to this.
// Internal to ledger/.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include <jobcarbon/ledger/pg_connection.hpp>
#include <jobcarbon/ledger/report_query.hpp>

namespace jobcarbon::ledger {

// See Store::report_rows.
// See Store::append_idle.
std::expected<bool, std::string> pg_append_idle(PgConnection& db, const NodeIdle& idle);

std::expected<std::vector<ReportRow>, std::string> pg_report_rows(PgConnection& db,
                                                                  const ReportQuery& query);

}  // namespace jobcarbon::ledger
