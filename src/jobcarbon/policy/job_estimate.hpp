// The CO2 a job about to be submitted will cause, from the resources it asks for: time limit ×
// (GPUs × power per GPU + CPUs × power per CPU) × nodes × PUE × intensity. Which power per device
// to use (learned from the ledger, else a table) is the caller's choice; each comes with the
// sentence that says where it came from. Pure.
#pragma once

#include <chrono>
#include <expected>
#include <string>
#include <string_view>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::policy {

// What a job asks for. gpus and cpus are per node, as Slurm's --gres=gpu:N / --cpus-per-node.
struct JobResources {
  int gpus = 0;
  double cpus = 0;
  int nodes = 1;
  std::chrono::seconds time_limit{0};
};

// A power per device and where it came from ("learned from 12 jobs in the ledger", "table:
// NVIDIA H100 datasheet, 700 W").
struct DevicePower {
  double watts = 0;
  std::string basis;
};

struct JobEstimate {
  double kwh = 0;       // IT energy, before PUE
  KgCo2 co2;            // kwh × pue × intensity
  std::string summary;  // "4 GPUs × 300 W + 32 CPUs × 12 W for 24h00m on 1 node: 30.0 kWh ..."
};

// Return the estimate, or an error naming the bad input: no GPU and no CPU, a negative count, a
// time limit of 0 or over 366 days, nodes outside 1..100000, a power or intensity that is
// negative or not finite, a PUE below 1.
std::expected<JobEstimate, std::string> estimate_job(const JobResources& r, const DevicePower& gpu,
                                                     const DevicePower& cpu,
                                                     double intensity_kg_per_kwh, double pue);

// Return the time limit in TEXT as Slurm writes it: "MM", "MM:SS", "HH:MM:SS", "D-HH",
// "D-HH:MM", "D-HH:MM:SS"; or with a unit: "90s", "45m", "12h", "3d". Error naming TEXT otherwise
// (also "UNLIMITED", "0", and anything over 366 days).
std::expected<std::chrono::seconds, std::string> parse_time_limit(std::string_view text);

}  // namespace jobcarbon::policy
