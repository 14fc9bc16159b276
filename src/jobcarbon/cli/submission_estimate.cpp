#include <jobcarbon/cli/submission_estimate.hpp>

#include <fmt/format.h>

#include <jobcarbon/carbon/cpu_power_table.hpp>
#include <jobcarbon/cli/carbon_options.hpp>

namespace jobcarbon::cli {

ChosenPower choose_device_power(const ledger::TypicalPower& for_model,
                                const ledger::TypicalPower& all, const carbon::GpuPowerTable& table,
                                const std::string& gpu_model, double default_cpu_watts,
                                const std::string& default_cpu_source) {
  auto learned = [](double w, std::int64_t jobs, const std::string& what) {
    return policy::DevicePower{w, fmt::format("{:.0f} W learned from {} job{} in the ledger{}", w,
                                              jobs, jobs == 1 ? "" : "s", what)};
  };
  ChosenPower out;
  const carbon::GpuPower row = table.lookup(gpu_model);
  // Learned values no device can draw are set aside, and said.
  std::string ignored;
  auto plausible = [&](const std::optional<double>& w, double max, const char* per) {
    if (w && *w > max) {
      ignored += fmt::format(
          "; learned {:.0f} W per {} ignored (above the plausible {:.0f} W: a "
          "faulty sensor?)",
          *w, per, max);
      return false;
    }
    return w.has_value();
  };
  if (!gpu_model.empty() && plausible(for_model.gpu_watts, kMaxPlausibleGpuWatts, "GPU")) {
    out.gpu = learned(*for_model.gpu_watts, for_model.gpu_jobs, " on " + gpu_model);
  } else if (!gpu_model.empty() && !row.is_default) {
    out.gpu = {row.watts, fmt::format("{:.0f} W from the table ({}); nothing learned yet for {}",
                                      row.watts, row.source, gpu_model)};
  } else if (plausible(all.gpu_watts, kMaxPlausibleGpuWatts, "GPU")) {
    out.gpu = learned(*all.gpu_watts, all.gpu_jobs, ", all GPU models");
  } else {
    out.gpu = {row.watts, fmt::format("{:.0f} W from the table default ({}); nothing learned yet",
                                      row.watts, row.source)};
  }
  out.gpu.basis += ignored;
  ignored.clear();
  if (plausible(all.cpu_watts, kMaxPlausibleCpuWatts, "CPU")) {
    out.cpu = learned(*all.cpu_watts, all.cpu_jobs, "");
  } else {
    out.cpu = {default_cpu_watts,
               fmt::format("{:.1f} W per CPU from the table default ({}); nothing learned yet",
                           default_cpu_watts, default_cpu_source)};
  }
  out.cpu.basis += ignored;
  return out;
}

std::expected<SubmissionEstimate, std::string> estimate_submission(
    ledger::Store& store, const policy::JobResources& resources, const std::string& gpu_model,
    const Settings& settings, os::WallTime now) {
  auto for_model = store.typical_power(gpu_model);
  if (!for_model) return std::unexpected(for_model.error());
  auto all = store.typical_power("");
  if (!all) return std::unexpected(all.error());
  auto table = carbon::GpuPowerTable::load_embedded();
  if (!table) return std::unexpected(table.error());
  const carbon::CpuPower cpu = carbon::default_cpu_power();
  SubmissionEstimate out;
  out.power =
      choose_device_power(*for_model, *all, *table, gpu_model, cpu.watts_per_core, cpu.source);
  CarbonChoice carbon;
  try {
    carbon = choose_carbon(settings);
  } catch (const std::exception& e) {
    return std::unexpected(e.what());
  }
  auto intensity = carbon.source->at(now);
  if (!intensity) return std::unexpected(intensity.error());
  out.intensity_kg_per_kwh = intensity->kg_per_kwh;
  out.pue = carbon.pue;
  auto e = policy::estimate_job(resources, out.power.gpu, out.power.cpu, out.intensity_kg_per_kwh,
                                out.pue);
  if (!e) return std::unexpected(e.error());
  out.estimate = std::move(*e);
  return out;
}

}  // namespace jobcarbon::cli
