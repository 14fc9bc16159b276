// What one newly written job adds to the running usage totals (usage_totals), the same on every
// backend: the job's energy split among calendar years by time, its CO2 in the same proportion,
// once for the user's row and once for the whole account's ("" user). Pure logic.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <jobcarbon/ledger/budget_record.hpp>
#include <jobcarbon/ledger/job_record.hpp>
#include <jobcarbon/policy/budget_period.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::ledger {

// One usage_totals row's increment.
struct UsageDelta {
  std::string account;
  std::string user;  // "" for the whole account
  int year = 0;
  double co2_kg = 0;
  Microjoules energy;
  int jobs = 0;  // 1 in the year the job started, else 0

  bool operator==(const UsageDelta&) const = default;
};

// Return JOB's increments, ordered by year and, within a year, the user's row before the
// account's (a fixed order, so concurrent writers lock rows in the same order). The energy parts
// add up to job.energy_charged exactly (policy::split_energy); the last part's CO2 is the
// remainder, so the CO2 parts add up to job.co2_kg. A job without a user adds only the account's
// rows. Error: split_energy's (end before start, negative energy).
std::expected<std::vector<UsageDelta>, std::string> usage_deltas(const JobRecord& job,
                                                                 policy::YearStart from = {});

// usage_totals rebuilt from scratch (when the budget year start changes): key (account, user,
// year) -> the sums, filled by add_to_totals for every job.
using UsageTotals = std::map<std::tuple<std::string, std::string, int>, Usage>;

// Add JOB's deltas (usage_deltas with FROM) to TOTALS. Error: usage_deltas'.
std::expected<void, std::string> add_to_totals(UsageTotals& totals, const JobRecord& job,
                                               policy::YearStart from);

// Return the year start stored as "MM-DD" (the ledger's budget_year_start setting), or an error
// naming TEXT.
std::expected<policy::YearStart, std::string> parse_year_start(std::string_view text);

// Return FROM as "MM-DD".
std::string format_year_start(policy::YearStart from);

// Return the first instant (UTC) of the calendar month that holds T: report_totals' month key.
Timestamp month_start(Timestamp t);

// Return true when T is the first instant of a calendar month (UTC): a report bounded by such
// instants can be answered from the monthly roll-ups.
bool is_month_start(Timestamp t);

// One power_totals row's increment (the typical power per device learned from finished jobs).
struct PowerDelta {
  std::string device;  // "gpu" | "cpu"
  std::string model;   // the GPU model; "" for CPUs
  double joules = 0;
  double device_seconds = 0;
};

// Return what JOB teaches about power per device: its GPUs (when it had some) and its CPUs (when
// their number is known), GPU first; nothing for a job shorter than kMinLearnSeconds.
std::vector<PowerDelta> power_deltas(const JobRecord& job);

}  // namespace jobcarbon::ledger
