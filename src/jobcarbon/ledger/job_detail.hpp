// `jobcarbon show JOB` as it prints: every record of one job (one per node × step) and the job's
// totals as sums of the records, with the job's Slurm steps (shares of its records, never added)
// under their node's record. Pure functions of the records, so tests check the exact text.
#pragma once

#include <span>
#include <string>

#include <jobcarbon/ledger/job_record.hpp>

namespace jobcarbon::ledger {

// The job's totals: sums over its records.
struct JobTotals {
  std::size_t records = 0;
  DomainEnergy energy;
  Microjoules energy_charged;
  Microjoules machine_energy;
  Microjoules unallocated_energy;
  double gpu_hours = 0;  // Σ gpu_count × (end − start)
  double co2_kg = 0;

  bool operator==(const JobTotals&) const = default;
};

// Return the sums over RECORDS.
JobTotals job_totals(std::span<const JobRecord> records);

// Return the records as a text breakdown: a header line per job key (cluster, user, account,
// command), then a table with one line per record (NODE, STEP, START and END in UTC, energy per
// domain in J, kWh charged, MACHINE and UNALLOCATED kWh, METHOD, GPUS, GPU MODEL, kg/kWh, PUE,
// kg CO2) and a TOTAL line. Each record's STEPS (same cluster, job id, submit time and node;
// Store::job_steps) follow its line, marked "  step" in NODE, with MACHINE and UNALLOCATED left
// blank; steps whose job record is missing (the job still runs) come last, marked "  step on
// NODE". Steps are shares of their job's record, so the TOTAL line leaves them out, and a last
// line says so. "" when both are empty.
std::string render_job_detail(std::span<const JobRecord> records,
                              std::span<const JobRecord> steps = {});

// Return {"job_id", "records": [{cluster, node, step, co2_kg, energy_uj, "report": the stored
// report JSON (a string when it does not parse)}], "totals": {...} (energies in µJ and kWh; sums
// of the records only), "steps": [{cluster, node, step, start, end (UTC ISO 8601 to the µs),
// exit_code, energy_uj, domains_uj, co2_kg, report}]}.
std::string render_job_detail_json(std::span<const JobRecord> records,
                                   std::span<const JobRecord> steps = {});

}  // namespace jobcarbon::ledger
