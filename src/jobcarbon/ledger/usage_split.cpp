#include <jobcarbon/ledger/usage_split.hpp>

#include <charconv>
#include <chrono>

#include <fmt/format.h>

#include <jobcarbon/ledger/store.hpp>
#include <jobcarbon/policy/budget_period.hpp>

namespace jobcarbon::ledger {

std::expected<std::vector<UsageDelta>, std::string> usage_deltas(const JobRecord& job,
                                                                 policy::YearStart from) {
  using std::chrono::system_clock;
  auto parts = policy::split_energy(system_clock::time_point(job.start),
                                    system_clock::time_point(job.end), job.energy_charged, from);
  if (!parts) return std::unexpected(parts.error());
  const int start_year = policy::period_of(system_clock::time_point(job.start), from).year;
  const double total = static_cast<double>(job.energy_charged.value);
  double co2_left = job.co2_kg;
  std::vector<UsageDelta> out;
  for (std::size_t i = 0; i < parts->size(); ++i) {
    const auto& part = (*parts)[i];
    // CO2 in proportion to energy; the last part takes the remainder so the parts add up.
    const bool last = i + 1 == parts->size();
    const double co2 =
        last ? co2_left
             : (total > 0 ? job.co2_kg * static_cast<double>(part.energy.value) / total : 0.0);
    co2_left -= co2;
    const int jobs = part.period.year == start_year ? 1 : 0;
    if (!job.user.empty()) {
      out.push_back({job.account, job.user, part.period.year, co2, part.energy, jobs});
    }
    out.push_back({job.account, "", part.period.year, co2, part.energy, jobs});
  }
  return out;
}

std::expected<void, std::string> add_to_totals(UsageTotals& totals, const JobRecord& job,
                                               policy::YearStart from) {
  auto deltas = usage_deltas(job, from);
  if (!deltas) return std::unexpected(deltas.error());
  for (const auto& d : *deltas) {
    Usage& u = totals[{d.account, d.user, d.year}];
    u.co2 = KgCo2{u.co2.value + d.co2_kg};
    u.energy = u.energy + d.energy;
    u.jobs += d.jobs;
  }
  return {};
}

std::expected<policy::YearStart, std::string> parse_year_start(std::string_view text) {
  unsigned month = 0, day = 0;
  const bool shape = text.size() == 5 && text[2] == '-' &&
                     std::from_chars(text.data(), text.data() + 2, month).ptr == text.data() + 2 &&
                     std::from_chars(text.data() + 3, text.data() + 5, day).ptr == text.data() + 5;
  if (!shape) {
    return std::unexpected(
        fmt::format("budget year start '{}': expected MM-DD, e.g. 04-01 for years from April 1",
                    text.substr(0, 40)));
  }
  auto from = policy::make_year_start(month, day);
  if (!from) return std::unexpected(fmt::format("budget year start '{}': {}", text, from.error()));
  return *from;
}

std::string format_year_start(policy::YearStart from) {
  return fmt::format("{:02}-{:02}", from.month, from.day);
}

Timestamp month_start(Timestamp t) {
  using namespace std::chrono;
  const year_month_day ymd{floor<days>(t)};
  return Timestamp(sys_days(ymd.year() / ymd.month() / 1).time_since_epoch());
}

bool is_month_start(Timestamp t) {
  return month_start(t) == t;
}

std::vector<PowerDelta> power_deltas(const JobRecord& job) {
  const double seconds = std::chrono::duration<double>(job.end - job.start).count();
  std::vector<PowerDelta> out;
  if (seconds < kMinLearnSeconds) return out;
  if (job.gpu_count > 0) {
    out.push_back({"gpu", job.gpu_model, static_cast<double>(job.energy.gpu.value) / 1e6,
                   job.gpu_count * seconds});
  }
  if (job.cpus > 0) {
    const auto cpu =
        job.energy.cpu + job.energy.dram + job.energy.estimated_cpu + job.energy.estimated_memory;
    out.push_back({"cpu", "", static_cast<double>(cpu.value) / 1e6, job.cpus * seconds});
  }
  return out;
}

}  // namespace jobcarbon::ledger
