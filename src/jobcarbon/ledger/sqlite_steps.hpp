// The steps half of the SQLite ledger (migration 0007): step records, kept apart from jobs so
// that nothing that counts ever reads them (see Store::append_step). SqliteStore forwards to
// these. Internal to ledger/.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include <jobcarbon/ledger/job_record.hpp>
#include <jobcarbon/ledger/sqlite_connection.hpp>

namespace jobcarbon::ledger {

// See Store::append_step. One statement in autocommit: the row is written whole or not at all.
std::expected<bool, std::string> append_step(SqliteConnection& db, const JobRecord& step);

// See Store::job_steps. Error when a row's record_json cannot be read back (edited by hand),
// naming the row.
std::expected<std::vector<JobRecord>, std::string> job_steps(SqliteConnection& db,
                                                             const std::string& job_id);

}  // namespace jobcarbon::ledger
