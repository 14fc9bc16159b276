// The one mapping from the attribution's energy per domain to the ledger's columns.
#pragma once

#include <jobcarbon/attribution/attributor.hpp>
#include <jobcarbon/ledger/job_record.hpp>

namespace jobcarbon::report {

// Return e as a ledger record's energy per domain (kOther is never charged, so it has no column).
inline ledger::DomainEnergy to_record_energy(const attribution::DomainEnergy& e) {
  using sensors::Domain;
  return ledger::DomainEnergy{e[Domain::kGpu],          e[Domain::kCpuPackage],
                              e[Domain::kDram],         e[Domain::kNode],
                              e[Domain::kEstimatedCpu], e[Domain::kEstimatedMemory]};
}

}  // namespace jobcarbon::report
