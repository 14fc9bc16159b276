// The attribution stage: splits each interval's energy among the jobs that ran in it — each GPU
// to the job that may use it, CPU package and DRAM by the jobs' share of the CPU capacity, the
// whole node to a job on an exclusive node — and keeps what no job used as `unallocated`.
// Energy is conserved exactly: for every domain, the jobs' parts plus unallocated equal the
// machine's energy, to the microjoule.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <jobcarbon/energy/meter.hpp>
#include <jobcarbon/sensors/sensor.hpp>
#include <jobcarbon/units/units.hpp>

namespace jobcarbon::attribution {

// Energy per domain. Index with a sensors::Domain; kOther (sub-parts already inside another
// channel) is never filled. When a node-level meter exists, kNode holds only the rest of the node
// (what its components do not explain: fans, disks, power supply losses), so the sum of all
// domains is the node's energy and nothing is counted twice.
struct DomainEnergy {
  std::array<Microjoules, 7> by_domain{};

  Microjoules& operator[](sensors::Domain d) { return by_domain[static_cast<std::size_t>(d)]; }
  Microjoules operator[](sensors::Domain d) const { return by_domain[static_cast<std::size_t>(d)]; }
  // Return the sum over all domains.
  Microjoules total() const;
  DomainEnergy& operator+=(const DomainEnergy& o);
  bool operator==(const DomainEnergy&) const = default;
};

// What one job used of the machine during one interval.
struct JobUsage {
  Duration cpu_time{0};           // CPU time of the job's processes in the interval
  std::int64_t rss_bytes = 0;     // resident memory of the job's processes
  std::vector<std::string> gpus;  // UUIDs of the GPUs the job may use
  bool exclusive = false;         // the job owns the whole machine
};

// What the machine as a whole did during one interval.
struct MachineUsage {
  Duration cpu_capacity{0};         // online CPUs × interval length
  Duration cpu_busy{0};             // non-idle CPU time of all processes (for estimated CPU energy)
  std::int64_t mem_used_bytes = 0;  // memory in use (for estimated memory energy)
};

struct Attribution {
  DomainEnergy machine;
  std::vector<DomainEnergy> jobs;  // same order as the JobUsage span
  DomainEnergy unallocated;        // machine − Σ jobs, per domain
};

class Attributor {
 public:
  // channels: the meter's channels, in the meter's order.
  explicit Attributor(std::vector<sensors::Channel> channels);

  // Split one interval's energy among the jobs. out is overwritten.
  void attribute(const energy::Interval& interval, const MachineUsage& machine,
                 std::span<const JobUsage> jobs, Attribution& out) const;

  // Return true when a node-level meter is among the channels.
  bool has_node_meter() const { return has_node_meter_; }

 private:
  std::vector<sensors::Channel> channels_;
  bool has_node_meter_ = false;
};

// Return floor(e × num / den), exact for any energy and share (den > 0, 0 ≤ num ≤ den).
Microjoules share_of(Microjoules e, std::int64_t num, std::int64_t den);

}  // namespace jobcarbon::attribution
