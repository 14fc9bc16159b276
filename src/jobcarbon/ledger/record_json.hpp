// A lossless JSON form of the ledger's records, for what must hold a record outside the ledger
// and get it back bit for bit: the node agent's spool while the ledger is unreachable (issue #4).
// Not the display form of `jobcarbon jobs --format json` (job_listing.hpp), which rounds times to
// text, adds derived fields and leaves report_json out.
//
// Keys are the C++ member names. Energies are integer microjoules, instants integer microseconds
// since 1970-01-01 UTC (to_us), doubles JSON numbers (nlohmann prints the shortest text that
// parses back to the same double), work_count null when unset, tags an object of strings,
// command an array of strings, report_json a string (the report's text, not parsed).
#pragma once

#include <expected>
#include <string>

#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/job_record.hpp>

namespace jobcarbon::ledger {

// Return RECORD as JSON. Every field is written; a non-finite double is written as null (JSON has
// no NaN), which job_record_from_json refuses: callers validate with invalid_field first.
nlohmann::json to_json(const JobRecord& record);
// Return IDLE as JSON: cluster, node, start, end (µs), energy (µJ).
nlohmann::json to_json(const NodeIdle& idle);
// Return RUNNING as JSON, in the same way.
nlohmann::json to_json(const RunningRecord& running);

// Return the record JSON holds, as to_json wrote it. Strict, so that a damaged file is never
// taken for a record: error naming the field when a field is missing ("job_id: missing"), has
// the wrong type ("energy.gpu: expected an integer"), is out of range for its C++ type, is an
// energy below zero ("energy.gpu: negative energy -5"), or is unknown ("colour: unknown field").
// work_count may be null or absent (unset). Values are not otherwise checked: invalid_field
// says whether the ledger would take the record.
std::expected<JobRecord, std::string> job_record_from_json(const nlohmann::json& json);
// Return the idle interval JSON holds; errors as job_record_from_json.
std::expected<NodeIdle, std::string> node_idle_from_json(const nlohmann::json& json);
// Return the running job's record JSON holds; errors as job_record_from_json.
std::expected<RunningRecord, std::string> running_record_from_json(const nlohmann::json& json);

}  // namespace jobcarbon::ledger
