#include <jobcarbon/ledger/job_detail.hpp>

#include <ctime>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/job_listing.hpp>
#include <jobcarbon/ledger/text_table.hpp>
#include <jobcarbon/ledger/time_text.hpp>

namespace jobcarbon::ledger {
namespace {

std::string joules(Microjoules e) {
  return fmt::format("{:.3f}", static_cast<double>(e.value) / 1e6);
}

double gpu_hours(const JobRecord& r) {
  return r.gpu_count * std::chrono::duration<double, std::ratio<3600>>(r.end - r.start).count();
}

std::vector<std::string> energy_cells(const DomainEnergy& e, Microjoules charged,
                                      Microjoules machine, Microjoules unallocated) {
  return {joules(e.gpu),
          joules(e.cpu),
          joules(e.dram),
          joules(e.node),
          joules(e.estimated_cpu),
          joules(e.estimated_memory),
          fmt::format("{:.6f}", to_kwh(charged)),
          fmt::format("{:.6f}", to_kwh(machine)),
          fmt::format("{:.6f}", to_kwh(unallocated))};
}

nlohmann::ordered_json domains_json(const DomainEnergy& e) {
  return {{"gpu", e.gpu.value},
          {"cpu", e.cpu.value},
          {"dram", e.dram.value},
          {"node", e.node.value},
          {"estimated_cpu", e.estimated_cpu.value},
          {"estimated_memory", e.estimated_memory.value}};
}

// True when STEP belongs to RECORD: the same job (cluster, id, submit time) on the same node.
bool same_job_on_node(const JobRecord& step, const JobRecord& record) {
  return step.cluster == record.cluster && step.job_id == record.job_id &&
         step.submit_time == record.submit_time && step.node == record.node;
}

}  // namespace

JobTotals job_totals(std::span<const JobRecord> records) {
  JobTotals t;
  for (const auto& r : records) {
    ++t.records;
    t.energy.gpu += r.energy.gpu;
    t.energy.cpu += r.energy.cpu;
    t.energy.dram += r.energy.dram;
    t.energy.node += r.energy.node;
    t.energy.estimated_cpu += r.energy.estimated_cpu;
    t.energy.estimated_memory += r.energy.estimated_memory;
    t.energy_charged += r.energy_charged;
    t.machine_energy += r.machine_energy;
    t.unallocated_energy += r.unallocated_energy;
    t.gpu_hours += gpu_hours(r);
    t.co2_kg += r.co2_kg;
  }
  return t;
}

std::string render_job_detail(std::span<const JobRecord> records,
                              std::span<const JobRecord> steps) {
  if (records.empty() && steps.empty()) return "";
  std::string out;
  // One header per distinct job key part people tell apart (a reused Slurm id, another cluster).
  std::set<std::string> seen;
  for (const auto span : {records, steps}) {
    for (const auto& r : span) {
      const std::string head = fmt::format(
          "job {} (cluster {}, submitted {} UTC): user {}, account {}, command {}\n", r.job_id,
          r.cluster, utc_text(r.submit_time, UtcStyle::kReadable), r.user.empty() ? "-" : r.user,
          r.account.empty() ? "-" : r.account, shell_join(r.command));
      if (seen.insert(head).second) out += head;
    }
  }
  std::vector<std::vector<std::string>> rows{
      {"NODE",   "STEP",   "START (UTC)", "END (UTC)", "DURATION", "GPU J",       "CPU J",
       "DRAM J", "NODE J", "EST CPU J",   "EST MEM J", "kWh",      "MACHINE kWh", "UNALLOC kWh",
       "METHOD", "GPUS",   "GPU MODEL",   "kg/kWh",    "PUE",      "kg CO2"}};
  // NODE is the record's node, or the step's marker; a step's MACHINE and UNALLOCATED (the whole
  // node's, as its job's) are left blank.
  const auto add_row = [&](const JobRecord& r, std::string node, bool step) {
    std::vector<std::string> row = {
        std::move(node), r.step.empty() ? "-" : r.step, utc_text(r.start, UtcStyle::kReadable),
        utc_text(r.end, UtcStyle::kReadable), format_duration(r.end - r.start)};
    for (auto& c :
         energy_cells(r.energy, r.energy_charged, r.machine_energy, r.unallocated_energy)) {
      row.push_back(std::move(c));
    }
    if (step) row[12] = row[13] = "";
    row.push_back(r.method);
    row.push_back(fmt::format("{}", r.gpu_count));
    row.push_back(r.gpu_model.empty() ? "-" : r.gpu_model);
    row.push_back(fmt::format("{:g}", r.intensity_kg_per_kwh));
    row.push_back(fmt::format("{:g}", r.pue));
    row.push_back(fmt::format("{:.6f}", r.co2_kg));
    rows.push_back(std::move(row));
  };
  std::vector<bool> placed(steps.size(), false);
  for (const auto& r : records) {
    add_row(r, r.node, false);
    for (std::size_t i = 0; i < steps.size(); ++i) {
      if (!placed[i] && same_job_on_node(steps[i], r)) {
        add_row(steps[i], "  step", true);
        placed[i] = true;
      }
    }
  }
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (!placed[i]) add_row(steps[i], "  step on " + steps[i].node, true);
  }
  const JobTotals t = job_totals(records);
  std::vector<std::string> total = {fmt::format("TOTAL ({} records)", t.records), "", "", "", ""};
  for (auto& c : energy_cells(t.energy, t.energy_charged, t.machine_energy, t.unallocated_energy)) {
    total.push_back(std::move(c));
  }
  for (auto c : {"", "", "", "", ""}) total.emplace_back(c);
  total.push_back(fmt::format("{:.6f}", t.co2_kg));
  rows.push_back(std::move(total));
  std::vector<bool> right(rows.front().size(), false);
  for (std::size_t c = 4; c <= 13; ++c) right[c] = true;
  for (std::size_t c : {15, 17, 18, 19}) right[c] = true;
  out += aligned_table(rows, right) + fmt::format("GPU-hours: {:.4f}\n", t.gpu_hours);
  if (!steps.empty()) {
    out +=
        "Steps are shares of their job's record on the node (by CPU time): part of its figures, "
        "not added to the total.\n";
  }
  return out;
}

std::string render_job_detail_json(std::span<const JobRecord> records,
                                   std::span<const JobRecord> steps) {
  const auto report_of = [](const JobRecord& r) {
    auto report = nlohmann::ordered_json::parse(r.report_json, nullptr, false);
    if (report.is_discarded()) report = r.report_json;
    return report;
  };
  auto list = nlohmann::ordered_json::array();
  for (const auto& r : records) {
    list.push_back({{"cluster", r.cluster},
                    {"node", r.node},
                    {"step", r.step},
                    {"co2_kg", r.co2_kg},
                    {"energy_uj", r.energy_charged.value},
                    {"report", report_of(r)}});
  }
  auto step_list = nlohmann::ordered_json::array();
  for (const auto& s : steps) {
    step_list.push_back({{"cluster", s.cluster},
                         {"node", s.node},
                         {"step", s.step},
                         {"start", utc_text(s.start, UtcStyle::kIsoMicros)},
                         {"end", utc_text(s.end, UtcStyle::kIsoMicros)},
                         {"exit_code", s.exit_code},
                         {"energy_uj", s.energy_charged.value},
                         {"domains_uj", domains_json(s.energy)},
                         {"co2_kg", s.co2_kg},
                         {"report", report_of(s)}});
  }
  const JobTotals t = job_totals(records);
  const std::string job_id =
      !records.empty() ? records.front().job_id : (steps.empty() ? "" : steps.front().job_id);
  nlohmann::ordered_json out = {{"job_id", job_id},
                                {"records", std::move(list)},
                                {"totals",
                                 {{"records", t.records},
                                  {"energy_uj", t.energy_charged.value},
                                  {"energy_kwh", to_kwh(t.energy_charged)},
                                  {"domains_uj", domains_json(t.energy)},
                                  {"machine_energy_uj", t.machine_energy.value},
                                  {"unallocated_energy_uj", t.unallocated_energy.value},
                                  {"gpu_hours", t.gpu_hours},
                                  {"co2_kg", t.co2_kg}}},
                                {"steps", std::move(step_list)}};
  return out.dump(2) + "\n";
}

}  // namespace jobcarbon::ledger
