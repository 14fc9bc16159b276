// `jobcarbon report` as it prints: an aligned table for terminals, CSV for spreadsheets, JSON for
// scripts. Pure functions of ReportRows, so tests check the exact text.
#pragma once

#include <span>
#include <string>

#include <jobcarbon/ledger/job_listing.hpp>
#include <jobcarbon/ledger/report_query.hpp>

namespace jobcarbon::ledger {

// The household-days equivalent: facility kWh ÷ KWH_PER_DAY (data/equivalents.csv's
// household_days factor, passed in so that rendering stays pure).
struct HouseholdFactor {
  double kwh_per_day = 10;
  std::string source = "the original study";
};

// Return ROWS grouped BY in FORMAT. Columns: the key (ACCOUNT, USER, MONTH, WEEK or NODE; "-" for
// an empty account or user in the table), JOBS, GPU-HOURS, kWh (charged, before PUE), kg CO2,
// HOUSEHOLD-DAYS (facility kWh ÷ the factor); --by account adds % BUDGET ("-" / empty / null
// without one); --by node adds MACHINE kWh and UNALLOCATED kWh. The table ends with a TOTAL line
// and a note citing the household factor; with no rows it is "". CSV: a header, full-precision
// numbers. JSON: an array of objects (energies in µJ and kWh, first/last start in UTC).
std::string render_report(std::span<const ReportRow> rows, Grouping by, ListingFormat format,
                          const HouseholdFactor& household = {});

}  // namespace jobcarbon::ledger
