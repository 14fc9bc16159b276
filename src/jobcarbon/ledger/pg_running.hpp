// The running-jobs half of the PostgreSQL ledger (migration 0003), as sqlite_running.hpp for
// SQLite: provisional usage of running jobs and the power per device learned from finished jobs.
// PgStore forwards to these. Internal to ledger/.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include <jobcarbon/ledger/budget_record.hpp>
#include <jobcarbon/ledger/job_record.hpp>
#include <jobcarbon/ledger/pg_connection.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::ledger {

// See Store::update_running. Runs its own transaction.
std::expected<bool, std::string> pg_update_running(PgConnection& db, const RunningRecord& r);

// See Store::list_running.
std::expected<std::vector<RunningRecord>, std::string> pg_list_running(PgConnection& db,
                                                                       const JobFilter& filter);

// See Store::running_usage.
std::expected<Usage, std::string> pg_running_usage(PgConnection& db, const std::string& account,
                                                   const std::string& user, int year);

// See Store::typical_power.
std::expected<TypicalPower, std::string> pg_typical_power(PgConnection& db,
                                                          const std::string& gpu_model);

}  // namespace jobcarbon::ledger
