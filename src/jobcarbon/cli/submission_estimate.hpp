// The CO2 estimate of a job at submission (`budget check --gpus N --cpus N --nodes N
// --time-limit T`): power per device learned from the ledger's finished jobs, else the GPU table
// (data/gpu_power.csv) and the CPU default (data/cpu_tdp.csv's "*" row); the intensity and PUE
// the site configured. Recording jobs changes the estimate.
#pragma once

#include <expected>
#include <string>

#include <jobcarbon/carbon/gpu_power_table.hpp>
#include <jobcarbon/cli/settings.hpp>
#include <jobcarbon/ledger/store.hpp>
#include <jobcarbon/os/clock.hpp>
#include <jobcarbon/policy/job_estimate.hpp>

namespace jobcarbon::cli {

// Power per GPU and per CPU for a job asking for GPU_MODEL ("" = any), in this order: learned
// for that model (FOR_MODEL), the table's row for that model (when the model is given and
// matches a row), learned over all models (ALL), the table's default. CPUs: learned, else
// DEFAULT_CPU_WATTS (the "*" row of the CPU table). Each with the sentence saying which.
// A learned value no device can draw (above kMaxPlausibleGpuWatts per GPU, kMaxPlausibleCpuWatts
// per CPU: a faulty sensor, a fake one in a test) is not used — the next source is, and its
// sentence says what was ignored — so one broken record cannot refuse every later submission.
inline constexpr double kMaxPlausibleGpuWatts = 2000;  // the largest GPUs draw about 1.2 kW
inline constexpr double kMaxPlausibleCpuWatts = 100;   // per CPU (core); the table's are ~10 W
struct ChosenPower {
  policy::DevicePower gpu;
  policy::DevicePower cpu;
};
ChosenPower choose_device_power(const ledger::TypicalPower& for_model,
                                const ledger::TypicalPower& all, const carbon::GpuPowerTable& table,
                                const std::string& gpu_model, double default_cpu_watts,
                                const std::string& default_cpu_source);

struct SubmissionEstimate {
  policy::JobEstimate estimate;
  ChosenPower power;
  double intensity_kg_per_kwh = 0;
  double pue = 1;
};

// Return the estimate for RESOURCES on STORE's learned power, with the intensity SETTINGS choose
// at NOW. Error naming the bad input (resources, intensity choice) or the ledger's error.
std::expected<SubmissionEstimate, std::string> estimate_submission(
    ledger::Store& store, const policy::JobResources& resources, const std::string& gpu_model,
    const Settings& settings, os::WallTime now);

}  // namespace jobcarbon::cli
