#include <jobcarbon/ledger/job_listing.hpp>
#include <jobcarbon/ledger/text_table.hpp>
#include <jobcarbon/ledger/time_text.hpp>

#include <algorithm>
#include <array>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace jobcarbon::ledger {
namespace {

std::time_t seconds_of(Timestamp t) {
  return static_cast<std::time_t>(
      std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count());
}

std::string local_text(Timestamp t, LocalTime local, bool with_seconds) {
  const std::tm tm = local(seconds_of(t));
  if (with_seconds) {
    return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min);
}

double duration_s(const JobRecord& r) {
  return std::chrono::duration<double>(r.end - r.start).count();
}

std::string program_name(const JobRecord& r) {
  if (r.command.empty()) return "-";
  const std::string name = std::filesystem::path(r.command.front()).filename().string();
  return name.empty() ? r.command.front() : name;
}

// Return s with control characters shown as '?': a job name or account holding a newline or an
// escape sequence must not break the table or drive the terminal.
std::string printable(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return s;
}

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : printable(s);
}

std::string render_table(std::span<const JobRecord> jobs, LocalTime local) {
  if (jobs.empty()) return "";
  constexpr std::size_t kColumns = 10;
  // Numbers are right-aligned so their digits line up.
  constexpr std::array<bool, kColumns> kRight = {false, false, true, false, false,
                                                 true,  true,  true, false, false};
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"JOB ID", "START", "DURATION", "USER", "ACCOUNT", "EXIT", "kWh", "kg CO2",
                  "METHOD", "COMMAND"});
  for (const auto& r : jobs) {
    rows.push_back({printable(r.job_id), local_text(r.start, local, false),
                    format_duration(r.end - r.start), or_dash(r.user), or_dash(r.account),
                    fmt::format("{}", r.exit_code), fmt::format("{:.4f}", to_kwh(r.energy_charged)),
                    fmt::format("{:.4f}", r.co2_kg), printable(r.method),
                    printable(program_name(r))});
  }
  return aligned_table(rows, std::vector<bool>(kRight.begin(), kRight.end()));
}

std::string render_csv(std::span<const JobRecord> jobs, LocalTime local) {
  std::string out = "job_id,start,duration_s,user,account,exit_code,kwh,kg_co2,method,command\n";
  for (const auto& r : jobs) {
    out += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", csv_cell(r.job_id),
                       local_text(r.start, local, true), duration_s(r), csv_cell(r.user),
                       csv_cell(r.account), r.exit_code, to_kwh(r.energy_charged), r.co2_kg,
                       csv_cell(r.method), csv_cell(shell_join(r.command)));
  }
  return out;
}

// Keys in the order people read a record (ordered_json), not alphabetical.
nlohmann::ordered_json to_json(const JobRecord& r) {
  return {
      {"cluster", r.cluster},
      {"job_id", r.job_id},
      {"submit_time", utc_text(r.submit_time, UtcStyle::kIsoMicros)},
      {"step", r.step},
      {"node", r.node},
      {"user", r.user},
      {"account", r.account},
      {"tags", r.tags},
      {"start", utc_text(r.start, UtcStyle::kIsoMicros)},
      {"end", utc_text(r.end, UtcStyle::kIsoMicros)},
      {"duration_s", duration_s(r)},
      {"exit_code", r.exit_code},
      {"command", r.command},
      {"energy_uj", r.energy_charged.value},
      {"energy_kwh", to_kwh(r.energy_charged)},
      {"domains_uj",
       {{"gpu", r.energy.gpu.value},
        {"cpu", r.energy.cpu.value},
        {"dram", r.energy.dram.value},
        {"node", r.energy.node.value},
        {"estimated_cpu", r.energy.estimated_cpu.value},
        {"estimated_memory", r.energy.estimated_memory.value}}},
      {"machine_energy_uj", r.machine_energy.value},
      {"unallocated_energy_uj", r.unallocated_energy.value},
      {"method", r.method},
      {"gpu_count", r.gpu_count},
      {"gpu_model", r.gpu_model},
      {"intensity",
       {{"kg_per_kwh", r.intensity_kg_per_kwh},
        {"zone", r.intensity_zone},
        {"dataset", r.intensity_dataset},
        {"year", r.intensity_year}}},
      {"pue", r.pue},
      {"co2_kg", r.co2_kg},
      {"cpus", r.cpus},
      {"work", r.work_count ? nlohmann::ordered_json{{"count", *r.work_count},
                                                     {"unit", r.work_unit},
                                                     {"per_kwh",
                                                      to_kwh(r.energy_charged) > 0
                                                          ? *r.work_count / to_kwh(r.energy_charged)
                                                          : 0.0}}
                            : nlohmann::ordered_json(nullptr)},
  };
}

std::string render_running_table(std::span<const RunningRecord> jobs, LocalTime local,
                                 Timestamp now) {
  if (jobs.empty()) return "";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"JOB ID", "STEP", "NODE", "START", "RUNNING", "USER", "ACCOUNT", "GPUS",
                  "kWh SO FAR", "kg CO2 SO FAR", "UPDATED"});
  for (const auto& r : jobs) {
    rows.push_back({r.job_id, or_dash(r.step), r.node, local_text(r.start, local, false),
                    format_duration(now - r.start), or_dash(r.user), or_dash(r.account),
                    fmt::format("{}", r.gpu_count), fmt::format("{:.4f}", to_kwh(r.energy_charged)),
                    fmt::format("{:.4f}", r.co2_kg), format_duration(now - r.updated) + " ago"});
  }
  return aligned_table(rows,
                       {false, false, false, false, true, false, false, true, true, true, true});
}

std::string render_running_csv(std::span<const RunningRecord> jobs, LocalTime local) {
  std::string out =
      "cluster,job_id,step,node,start,updated,user,account,gpu_count,gpu_model,kwh,kg_co2\n";
  for (const auto& r : jobs) {
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_cell(r.cluster),
                       csv_cell(r.job_id), csv_cell(r.step), csv_cell(r.node),
                       local_text(r.start, local, true), local_text(r.updated, local, true),
                       csv_cell(r.user), csv_cell(r.account), r.gpu_count, csv_cell(r.gpu_model),
                       to_kwh(r.energy_charged), r.co2_kg);
  }
  return out;
}

nlohmann::ordered_json to_json(const RunningRecord& r) {
  return {
      {"cluster", r.cluster},
      {"job_id", r.job_id},
      {"submit_time", utc_text(r.submit_time, UtcStyle::kIsoMicros)},
      {"step", r.step},
      {"node", r.node},
      {"user", r.user},
      {"account", r.account},
      {"start", utc_text(r.start, UtcStyle::kIsoMicros)},
      {"updated", utc_text(r.updated, UtcStyle::kIsoMicros)},
      {"energy_uj", r.energy_charged.value},
      {"energy_kwh", to_kwh(r.energy_charged)},
      {"co2_kg", r.co2_kg},
      {"gpu_count", r.gpu_count},
      {"gpu_model", r.gpu_model},
  };
}

}  // namespace

std::optional<ListingFormat> parse_listing_format(std::string_view name) {
  if (name == "table") return ListingFormat::kTable;
  if (name == "csv") return ListingFormat::kCsv;
  if (name == "json") return ListingFormat::kJson;
  return std::nullopt;
}

std::tm system_local_time(std::time_t t) {
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

std::string render_jobs(std::span<const JobRecord> jobs, ListingFormat format, LocalTime local) {
  switch (format) {
    case ListingFormat::kTable:
      return render_table(jobs, local);
    case ListingFormat::kCsv:
      return render_csv(jobs, local);
    case ListingFormat::kJson: {
      auto array = nlohmann::ordered_json::array();
      for (const auto& r : jobs) array.push_back(to_json(r));
      return array.dump(2) + "\n";
    }
  }
  return "";
}

std::string render_running(std::span<const RunningRecord> jobs, ListingFormat format, Timestamp now,
                           LocalTime local) {
  switch (format) {
    case ListingFormat::kTable:
      return render_running_table(jobs, local, now);
    case ListingFormat::kCsv:
      return render_running_csv(jobs, local);
    case ListingFormat::kJson: {
      auto array = nlohmann::ordered_json::array();
      for (const auto& r : jobs) array.push_back(to_json(r));
      return array.dump(2) + "\n";
    }
  }
  return "";
}

std::string format_duration(std::chrono::microseconds d) {
  // Truncated, as clocks and sacct show elapsed time: 59.99 s is "59.9s", never "60.0s".
  const std::int64_t us = std::max<std::int64_t>(d.count(), 0);
  const std::int64_t tenths = us / 100'000;
  if (tenths < 600) return fmt::format("{}.{}s", tenths / 10, tenths % 10);
  const std::int64_t s = us / 1'000'000;
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

std::string shell_join(std::span<const std::string> argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool safe = !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             std::string_view("_./:=,+@%-").find(c) != std::string_view::npos;
    });
    if (safe) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace jobcarbon::ledger
