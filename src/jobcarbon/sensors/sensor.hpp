// The sensor stage: reading one kind of hardware. A sensor knows nothing of jobs or carbon; it
// returns one Reading per Channel: a cumulative energy counter (µJ, with its wrap range) or an
// instantaneous power (µW).
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::sensors {

// What part of the machine a channel measures. The report groups energy by domain.
enum class Domain {
  kGpu,           // one GPU board (NVML)
  kCpuPackage,    // one CPU package/socket (RAPL package-N, hwmon socket/chip energy)
  kDram,          // memory attached to a package (RAPL dram)
  kNode,          // the whole node at the wall or the board (hwmon System, ACPI power meter, BMC)
  kEstimatedCpu,  // modelled: CPU time × power per core; no hardware behind it
  kEstimatedMemory,  // modelled: memory in use × W/GB
  kOther,            // a sub-part (core, uncore, psys, a VRM rail): shown, never added to a total
};

// Return the stable name used in reports and JSON: "gpu", "cpu", "dram", "node",
// "estimated_cpu", "estimated_memory", "other".
std::string_view domain_name(Domain d);

enum class ChannelKind {
  kEnergyCounter,  // cumulative microjoules, may wrap at wrap_range
  kPower,          // instantaneous microwatts: must be sampled and integrated
};

struct Channel {
  std::string id;     // unique and stable across runs: "rapl:intel-rapl:0", "nvml:GPU-6d0e...".
  std::string label;  // what a person calls it: "package-0", "NVIDIA H100 80GB HBM3 (GPU 0)".
  Domain domain = Domain::kOther;
  ChannelKind kind = ChannelKind::kEnergyCounter;
  // Counter value after which the counter restarts from 0 (RAPL max_energy_range_uj). nullopt
  // when the counter is 64-bit and does not wrap in practice (NVML, hwmon energy).
  std::optional<Microjoules> wrap_range;
  // False for channels contained in another channel of the same sensor (RAPL core/uncore inside
  // package, psys): listed and reported as breakdown, never summed into totals.
  bool additive = true;
  // The device this channel belongs to, when attribution needs it: the GPU's UUID for GPUs.
  std::string device;
};

// The outcome of reading one channel: a counter value (µJ) or a power (µW), or why it failed.
using Reading = std::expected<std::int64_t, std::string>;

class Sensor {
 public:
  virtual ~Sensor() = default;
  // Return the sensor's kind: "rapl", "nvml", "hwmon", "estimator".
  virtual std::string_view name() const = 0;
  // Return the channels, fixed for the sensor's lifetime (a channel that vanishes reads as errors).
  virtual const std::vector<Channel>& channels() const = 0;
  // Read every channel once. out is resized to channels().size(); out[i] belongs to channels()[i].
  // Never throws for hardware failures: a failed channel holds its error.
  virtual void read(std::vector<Reading>& out) = 0;
};

// The result of looking for one kind of sensor on this machine.
struct Probe {
  std::string name;                // "rapl", "nvml", ...
  std::unique_ptr<Sensor> sensor;  // null when unavailable
  std::string unavailable_reason;  // why, in words a user can act on, when sensor is null
  std::vector<std::string> notes;  // remarks on channels left out (unreadable, disabled, duplicate)
};

}  // namespace jobcarbon::sensors
