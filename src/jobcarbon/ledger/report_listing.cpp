#include <jobcarbon/ledger/report_listing.hpp>

#include <ctime>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/text_table.hpp>
#include <jobcarbon/ledger/time_text.hpp>

namespace jobcarbon::ledger {
namespace {

std::string key_header(Grouping by) {
  std::string h(to_string(by));
  for (char& c : h) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return h;
}

ReportRow total_of(std::span<const ReportRow> rows) {
  ReportRow t;
  t.key = "TOTAL";
  for (const auto& r : rows) {
    t.jobs += r.jobs;  // a job is in one group, except --by node (the table shows "-" there)
    t.records += r.records;
    t.gpu_hours += r.gpu_hours;
    t.energy_charged = t.energy_charged + r.energy_charged;
    t.facility_kwh += r.facility_kwh;
    t.machine_energy = t.machine_energy + r.machine_energy;
    t.unallocated_energy = t.unallocated_energy + r.unallocated_energy;
    t.idle_energy = t.idle_energy + r.idle_energy;
    t.co2_kg += r.co2_kg;
  }
  return t;
}

std::string render_table(std::span<const ReportRow> rows, Grouping by,
                         const HouseholdFactor& household) {
  if (rows.empty()) return "";
  const bool budget = by == Grouping::kAccount;
  const bool node = by == Grouping::kNode;
  std::vector<std::string> header = {key_header(by), "JOBS",   "GPU-HOURS",
                                     "kWh",          "kg CO2", "HOUSEHOLD-DAYS"};
  if (budget) header.push_back("% BUDGET");
  if (node) {
    header.push_back("MACHINE kWh");
    header.push_back("UNALLOCATED kWh");
    header.push_back("IDLE kWh");
  }
  std::vector<std::vector<std::string>> lines{header};
  const auto line = [&](const ReportRow& r, bool total) {
    std::vector<std::string> l = {r.key.empty() ? "-" : r.key,
                                  total && node ? "-" : fmt::format("{}", r.jobs),
                                  fmt::format("{:.2f}", r.gpu_hours),
                                  fmt::format("{:.4f}", to_kwh(r.energy_charged)),
                                  fmt::format("{:.4f}", r.co2_kg),
                                  fmt::format("{:.3f}", r.facility_kwh / household.kwh_per_day)};
    if (budget) {
      l.push_back(!total && r.budget_percent ? fmt::format("{:.1f}%", *r.budget_percent) : "-");
    }
    if (node) {
      l.push_back(fmt::format("{:.4f}", to_kwh(r.machine_energy)));
      l.push_back(fmt::format("{:.4f}", to_kwh(r.unallocated_energy)));
      l.push_back(fmt::format("{:.4f}", to_kwh(r.idle_energy)));
    }
    lines.push_back(std::move(l));
  };
  for (const auto& r : rows) line(r, false);
  line(total_of(rows), true);
  std::vector<bool> right(header.size(), true);
  right[0] = false;
  return aligned_table(lines, right) +
         fmt::format(
             "household-days: facility kWh (after PUE) / {:g} kWh per household per day "
             "({})\n",
             household.kwh_per_day, household.source);
}

std::string render_csv(std::span<const ReportRow> rows, Grouping by,
                       const HouseholdFactor& household) {
  std::string out = fmt::format("{},jobs,records,gpu_hours,kwh,facility_kwh,kg_co2,household_days",
                                to_string(by));
  if (by == Grouping::kAccount) out += ",budget_percent";
  if (by == Grouping::kNode) out += ",machine_kwh,unallocated_kwh,idle_kwh";
  out += "\n";
  for (const auto& r : rows) {
    out += fmt::format("{},{},{},{},{},{},{},{}", csv_cell(r.key), r.jobs, r.records, r.gpu_hours,
                       to_kwh(r.energy_charged), r.facility_kwh, r.co2_kg,
                       r.facility_kwh / household.kwh_per_day);
    if (by == Grouping::kAccount) {
      out += "," + (r.budget_percent ? fmt::format("{}", *r.budget_percent) : std::string());
    }
    if (by == Grouping::kNode) {
      out += fmt::format(",{},{},{}", to_kwh(r.machine_energy), to_kwh(r.unallocated_energy),
                         to_kwh(r.idle_energy));
    }
    out += "\n";
  }
  return out;
}

std::string render_json(std::span<const ReportRow> rows, Grouping by,
                        const HouseholdFactor& household) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& r : rows) {
    nlohmann::ordered_json o = {
        {std::string(to_string(by)), r.key},
        {"jobs", r.jobs},
        {"records", r.records},
        {"gpu_hours", r.gpu_hours},
        {"energy_uj", r.energy_charged.value},
        {"energy_kwh", to_kwh(r.energy_charged)},
        {"facility_kwh", r.facility_kwh},
        {"co2_kg", r.co2_kg},
        {"household_days", r.facility_kwh / household.kwh_per_day},
        {"first_start", r.records > 0 ? nlohmann::json(utc_text(r.first_start, UtcStyle::kIso))
                                      : nlohmann::json(nullptr)},
        {"last_start", r.records > 0 ? nlohmann::json(utc_text(r.last_start, UtcStyle::kIso))
                                     : nlohmann::json(nullptr)},
    };
    if (by == Grouping::kAccount) {
      o["budget_percent"] = r.budget_percent ? nlohmann::ordered_json(*r.budget_percent) : nullptr;
    }
    if (by == Grouping::kNode) {
      o["machine_energy_uj"] = r.machine_energy.value;
      o["machine_kwh"] = to_kwh(r.machine_energy);
      o["unallocated_energy_uj"] = r.unallocated_energy.value;
      o["unallocated_kwh"] = to_kwh(r.unallocated_energy);
      o["idle_energy_uj"] = r.idle_energy.value;
      o["idle_kwh"] = to_kwh(r.idle_energy);
    }
    out.push_back(std::move(o));
  }
  return out.dump(2) + "\n";
}

}  // namespace

std::string render_report(std::span<const ReportRow> rows, Grouping by, ListingFormat format,
                          const HouseholdFactor& household) {
  switch (format) {
    case ListingFormat::kTable:
      return render_table(rows, by, household);
    case ListingFormat::kCsv:
      return render_csv(rows, by, household);
    case ListingFormat::kJson:
      return render_json(rows, by, household);
  }
  return "";
}

}  // namespace jobcarbon::ledger
