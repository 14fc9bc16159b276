// How both backends keep a step record in job_steps.record_json: record_json.hpp's lossless JSON
// of the whole JobRecord, as text. Internal to ledger/.
#pragma once

#include <expected>
#include <string>

#include <jobcarbon/ledger/job_record.hpp>

namespace jobcarbon::ledger {

// Return STEP as the text stored in record_json. Bytes that are not UTF-8 become U+FFFD (JSON,
// and PostgreSQL's text, hold only UTF-8), as the agent's spool already did.
std::string step_json_text(const JobRecord& step);

// Return the record TEXT holds, or why it is not one (not JSON, or job_record_from_json's error).
std::expected<JobRecord, std::string> step_from_json_text(const std::string& text);

// Return the message for a job_steps row whose record_json cannot be read back: "job_steps row
// (cluster C, job J, node N, step S): record_json: WHY".
std::string unreadable_step(const std::string& cluster, const std::string& job_id,
                            const std::string& node, const std::string& step,
                            const std::string& why);

}  // namespace jobcarbon::ledger
