// The steps half of the PostgreSQL ledger (migration 0007), as sqlite_steps.hpp for SQLite: step
// records, kept apart from jobs so that nothing that counts ever reads them. Private data applies
// to them as to jobs (row-level security on user_name). PgStore forwards to these. Internal to
// ledger/.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include <jobcarbon/ledger/job_record.hpp>
#include <jobcarbon/ledger/pg_connection.hpp>

namespace jobcarbon::ledger {

// See Store::append_step. One statement: the row is written whole or not at all.
std::expected<bool, std::string> pg_append_step(PgConnection& db, const JobRecord& step);

// See Store::job_steps (only the rows row-level security shows this role).
std::expected<std::vector<JobRecord>, std::string> pg_job_steps(PgConnection& db,
                                                                const std::string& job_id);

}  // namespace jobcarbon::ledger
