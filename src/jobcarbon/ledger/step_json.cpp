#include <jobcarbon/ledger/step_json.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/record_json.hpp>

namespace jobcarbon::ledger {

std::string step_json_text(const JobRecord& step) {
  return to_json(step).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::expected<JobRecord, std::string> step_from_json_text(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::unexpected(std::string("not JSON"));
  return job_record_from_json(j);
}

std::string unreadable_step(const std::string& cluster, const std::string& job_id,
                            const std::string& node, const std::string& step,
                            const std::string& why) {
  return fmt::format("job_steps row (cluster {}, job {}, node {}, step {}): record_json: {}",
                     cluster, job_id, node, step, why);
}

}  // namespace jobcarbon::ledger
