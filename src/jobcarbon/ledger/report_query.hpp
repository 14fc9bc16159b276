// What `jobcarbon report` asks the ledger (ReportQuery) and what it gets back (ReportRow): usage
// grouped by account, user, month, ISO week or node. Pure data plus the parsing of the user's
// words; the Store runs the query, report_listing renders it.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <jobcarbon/ledger/job_record.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::ledger {

class Store;

// How the rows are grouped. Periods come from each record's start time in UTC. kTag groups by the
// value of one tag (ReportQuery::tag_key; "" for records without it); kGpuModel by GPU model (""
// for records without GPUs).
enum class Grouping { kAccount, kUser, kMonth, kWeek, kNode, kTag, kGpuModel };

// Return the grouping named "account", "user", "month", "week", "node", "tag" or "gpu-model", or
// nullopt.
std::optional<Grouping> parse_grouping(std::string_view name);

// Return the grouping's name as parse_grouping reads it.
std::string_view to_string(Grouping grouping);

struct ReportQuery {
  Grouping by = Grouping::kAccount;
  std::optional<Timestamp> since;  // only records that started at or after this instant
  std::optional<Timestamp> until;  // only records that started before this instant
  std::optional<std::string> account;
  std::optional<std::string> user;
  std::string tag_key;  // the tag whose values group the rows (Grouping::kTag)
};

// Return the query's grouping and tag key for a --by value: a grouping name, or "tag:KEY". Error
// naming TEXT: an unknown name, or "tag" without a key.
std::expected<std::pair<Grouping, std::string>, std::string> parse_report_by(std::string_view text);

// One group's usage: sums over the ledger's records (job × node × step) in the group.
struct ReportRow {
  std::string key;                 // the account, user, node, "2026-01" or "2026-W01"
  std::int64_t jobs = 0;           // distinct jobs (cluster, job id, submit time)
  std::int64_t records = 0;        // records (a job on 4 nodes is 4)
  double gpu_hours = 0;            // Σ gpu_count × (end − start)
  Microjoules energy_charged;      // Σ charged (before PUE)
  double facility_kwh = 0;         // Σ charged × PUE, in kWh: what equivalents divide
  Microjoules machine_energy;      // Σ whole-machine energy over each record's lifetime
  Microjoules unallocated_energy;  // Σ energy no job used over each record's lifetime
  // --by node: energy of the node's idle intervals (no job at all) that started in the range;
  // only without --account/--user (idle energy belongs to no account). Nodes with idle energy
  // and no records in the range have rows too (jobs 0).
  Microjoules idle_energy;
  double co2_kg = 0;
  Timestamp first_start;  // the earliest start in the group
  Timestamp last_start;   // the latest start in the group
  // --by account: the row's kg CO2 (or kWh) as a percentage of the account's whole-account budget
  // for the year its records started in; nullopt when they span years or no budget exists.
  std::optional<double> budget_percent;

  bool operator==(const ReportRow&) const = default;
};

// Add each node's idle energy (PER_NODE) to the node rows of ROWS, adding a row (jobs 0) for a
// node that has none, and keep the rows ordered by key (bytewise). For the backends.
void merge_idle(std::vector<ReportRow>& rows,
                const std::vector<std::pair<std::string, Microjoules>>& per_node);

// Return the instant of midnight UTC that starts DATE ("YYYY-MM-DD", a real calendar day), or an
// error naming FLAG and the text ("--since: '2026-13-01' is not a date: expected YYYY-MM-DD").
std::expected<Timestamp, std::string> parse_report_date(std::string_view flag,
                                                        std::string_view date);

// Fill budget_percent of account rows from STORE's budgets (whole-account budgets of the year the
// row's records started in). Rows of other groupings are left alone. Error: the store's errors.
std::expected<void, std::string> attach_budget_percents(Store& store, std::vector<ReportRow>& rows);

}  // namespace jobcarbon::ledger
