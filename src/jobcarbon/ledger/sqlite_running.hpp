// The running-jobs half of the SQLite ledger (migration 0003): provisional usage of jobs still
// running, and the power per device learned from finished jobs. SqliteStore forwards to these.
// Internal to ledger/.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include <jobcarbon/ledger/budget_record.hpp>
#include <jobcarbon/ledger/job_record.hpp>
#include <jobcarbon/ledger/sqlite_connection.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::ledger {

// See Store::update_running. Runs its own IMMEDIATE transaction.
std::expected<bool, std::string> update_running(SqliteConnection& db, const RunningRecord& r);

// See Store::list_running.
std::expected<std::vector<RunningRecord>, std::string> list_running(SqliteConnection& db,
                                                                    const JobFilter& filter);

// See Store::running_usage.
std::expected<Usage, std::string> running_usage(SqliteConnection& db, const std::string& account,
                                                const std::string& user, int year);

// For a newly inserted JOB, inside the caller's transaction: drop its provisional row and add
// its devices' energy and device-time to power_totals (when it lasted kMinLearnSeconds).
std::expected<void, std::string> finish_running(SqliteConnection& db, const JobRecord& job);

// See Store::typical_power.
std::expected<TypicalPower, std::string> typical_power(SqliteConnection& db,
                                                       const std::string& gpu_model);

}  // namespace jobcarbon::ledger
