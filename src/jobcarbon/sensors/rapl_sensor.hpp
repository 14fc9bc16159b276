// The RAPL sensor: CPU package, DRAM and sub-domain energy counters of Intel and AMD processors,
// read through Linux powercap (/sys/class/powercap/<zone>/energy_uj, microjoules, wrapping at
// the zone's max_energy_range_uj).
#pragma once

#include <filesystem>

#include <jobcarbon/sensors/sensor.hpp>

namespace jobcarbon::sensors {

// Return the RAPL sensor for the powercap class directory powercap_root (/sys/class/powercap in
// production; a fixture tree in tests).
//
// One channel per zone that has an energy_uj counter, each zone counted once although the kernel
// shows a subzone twice (flat in the class directory and nested in its package):
//   id "rapl:<zone dir>" ("rapl:intel-rapl:0:0"), label "package-0" or "package-0 dram",
//   kind kEnergyCounter, wrap_range from the zone's max_energy_range_uj;
//   package-N and package-N-die-M → kCpuPackage, dram → kDram (both additive);
//   core, uncore, psys and any other name → kOther, additive=false (they lie inside a package,
//   or, for psys, cover the package and more, so they must never be summed with packages).
// Zones of the MMIO/TPMI interfaces that repeat a zone already read through the MSR interface
// (same name) are left out with a note. Zones whose energy_uj this process may not read are left
// out with a note; when no zone is readable the probe is unavailable and its reason says that
// energy_uj is root-only and how an admin can grant read access. Unavailable with
// "no RAPL powercap zones under <root>" when the directory is missing or has no zone.
// Never throws.
Probe probe_rapl(const std::filesystem::path& powercap_root);

}  // namespace jobcarbon::sensors
