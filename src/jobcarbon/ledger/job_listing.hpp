// The list of past jobs as `jobcarbon jobs` prints it: an aligned table for terminals, CSV for
// spreadsheets, JSON for scripts and notebooks. Pure functions of the records, so tests check
// the exact text without a process or a ledger.
#pragma once

#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <jobcarbon/ledger/job_record.hpp>

namespace jobcarbon::ledger {

enum class ListingFormat { kTable, kCsv, kJson };

// Return the format named "table", "csv" or "json", or nullopt for any other name.
std::optional<ListingFormat> parse_listing_format(std::string_view name);

// Turns an instant into a broken-down local time; tests pass one with a fixed time zone.
using LocalTime = std::tm (*)(std::time_t);

// Return the local time of this process's time zone (localtime_r).
std::tm system_local_time(std::time_t t);

// Return the records in the given format, in the order given (the Store returns newest first).
// Table: JOB ID, START (local, to the minute), DURATION, USER, ACCOUNT, EXIT, kWh, kg CO2,
// METHOD, COMMAND (program name only); "" when there are no records.
// CSV: a header and one line per record: the same columns, start as local "YYYY-MM-DD HH:MM:SS",
// duration in seconds, numbers at full precision, the whole command shell-quoted.
// JSON: an array of objects with every field but report_json (times UTC ISO 8601, energies in
// µJ and kWh); "[]" when empty.
std::string render_jobs(std::span<const JobRecord> jobs, ListingFormat format,
                        LocalTime local = system_local_time);

// Return running jobs (`jobs --running`) in FORMAT, in the order given. Table: JOB ID, STEP, NODE,
// START (local), RUNNING (for how long at NOW), USER, ACCOUNT, GPUS, kWh SO FAR, kg CO2 SO FAR,
// UPDATED ("12.0s ago": how fresh the agent's last report is); "" when there are none. CSV and
// JSON: every field (JSON times UTC ISO 8601, energy in µJ and kWh).
std::string render_running(std::span<const RunningRecord> jobs, ListingFormat format, Timestamp now,
                           LocalTime local = system_local_time);

// Return a duration as people read it: "0.4s", "42.0s", "12m05s", "3h04m", "2d03h".
std::string format_duration(std::chrono::microseconds d);

// Return argv as one shell-quoted line: words of safe characters as they are, others in single
// quotes ("python3 train.py 'a b'").
std::string shell_join(std::span<const std::string> argv);

}  // namespace jobcarbon::ledger
