#include <jobcarbon/sensors/sensor.hpp>

namespace jobcarbon::sensors {

std::string_view domain_name(Domain d) {
  switch (d) {
    case Domain::kGpu:
      return "gpu";
    case Domain::kCpuPackage:
      return "cpu";
    case Domain::kDram:
      return "dram";
    case Domain::kNode:
      return "node";
    case Domain::kEstimatedCpu:
      return "estimated_cpu";
    case Domain::kEstimatedMemory:
      return "estimated_memory";
    case Domain::kOther:
      return "other";
  }
  return "other";
}

}  // namespace jobcarbon::sensors
