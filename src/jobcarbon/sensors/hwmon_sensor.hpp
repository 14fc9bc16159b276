// The hwmon sensor: energy counters and power meters that Linux exposes through the hardware
// monitoring class (/sys/class/hwmon): IBM POWER's OCC (ibmpowernv), AMD's amd_energy, ACPI power
// meters (node meters of servers, the Grace and Grace Hopper module/socket meters), and any other
// chip with energyN_input or powerN_input/powerN_average files.
#pragma once

#include <cstdint>
#include <filesystem>

#include <jobcarbon/sensors/sensor.hpp>

namespace jobcarbon::sensors {

// The value an ACPI power meter reports when the firmware has no reading (0xFFFFFFFF mW, printed
// in µW by kernels before the driver learnt to return ENODATA): read as an error, never as power.
inline constexpr std::int64_t kAcpiInvalidPower = 4294967295000;

// Return the hwmon sensor for the hwmon class directory hwmon_root (/sys/class/hwmon in
// production; a fixture tree in tests).
//
// Channels: every energyN_input (kEnergyCounter, µJ, wrap_range nullopt: the drivers keep 64-bit
// software accumulators) and every powerN_average or, when there is none, powerN_input (kPower,
// µW) of each chip, in hwmonX/ or, for legacy drivers, in hwmonX/device/. Left out, with a note:
// channels whose *_enable file reads 0, channels this process may not read, and a power channel
// whose label repeats an energy channel's on the same chip (ibmpowernv: the accumulator counts
// the same sensor exactly). Labels are trimmed (ibmpowernv ends them with a space); an ACPI meter
// without a label is named by its power1_oem_info.
//
// Domains: ibmpowernv "System" → kNode, "Chip N" → kCpuPackage; amd_energy "EsocketN" →
// kCpuPackage; an ACPI power meter → kNode, except the Grace meters that measure part of a
// module ("Grace Power Socket N" → kCpuPackage; "CPU Power …", "SysIO Power …" → kOther).
// Everything else (ibmpowernv rails and APSS inputs, amd_energy cores, unknown chips) → kOther,
// additive=false.
//
// Channel id "hwmon:<chip name>:<device>:<energyN|powerN>", where <device> is the kernel name of
// the chip's parent device (the target of hwmonX/device: "ACPI000D:00", "amd_energy.0"): unlike
// hwmonX it survives a reboot and the re-registration of an ACPI power meter at run time. A chip
// without a device link uses hwmonX. When a chip's hwmonX disappears while reading, the sensor
// finds the chip again under its new hwmonY by that device and name.
//
// Unavailable when the directory is missing or has no chip ("no hwmon chips under <root>"), when
// no chip has a power or energy channel, or when none of them is readable. Never throws.
Probe probe_hwmon(const std::filesystem::path& hwmon_root);

}  // namespace jobcarbon::sensors
