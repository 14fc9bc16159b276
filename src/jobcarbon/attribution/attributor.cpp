#include <jobcarbon/attribution/attributor.hpp>

#include <algorithm>

namespace jobcarbon::attribution {

using sensors::Domain;

Microjoules DomainEnergy::total() const {
  Microjoules t;
  for (const auto& e : by_domain) t += e;
  return t;
}

DomainEnergy& DomainEnergy::operator+=(const DomainEnergy& o) {
  for (std::size_t i = 0; i < by_domain.size(); ++i) by_domain[i] += o.by_domain[i];
  return *this;
}

Microjoules share_of(Microjoules e, std::int64_t num, std::int64_t den) {
  if (den <= 0 || num <= 0) return Microjoules(0);
  if (num >= den) return e;
  return Microjoules(static_cast<std::int64_t>(static_cast<Int128>(e.value) * num / den));
}

Attributor::Attributor(std::vector<sensors::Channel> channels) : channels_(std::move(channels)) {
  has_node_meter_ = std::any_of(channels_.begin(), channels_.end(), [](const auto& c) {
    return c.additive && c.domain == Domain::kNode;
  });
}

namespace {

// Shares as integer ratios num_j / den with Σ num_j ≤ den, so that the parts never exceed the
// whole even when the inputs disagree (a job's CPU time read a moment after the machine's).
struct Shares {
  std::vector<std::int64_t> num;
  std::int64_t den = 0;
};

Shares make_shares(std::span<const std::int64_t> used, std::int64_t capacity) {
  Shares s;
  s.num.assign(used.begin(), used.end());
  std::int64_t sum = 0;
  for (auto& u : s.num) {
    u = std::max<std::int64_t>(u, 0);
    sum += u;
  }
  s.den = std::max(capacity, sum);
  return s;
}

}  // namespace

void Attributor::attribute(const energy::Interval& interval, const MachineUsage& machine,
                           std::span<const JobUsage> jobs, Attribution& out) const {
  out.machine = DomainEnergy{};
  out.jobs.assign(jobs.size(), DomainEnergy{});
  out.unallocated = DomainEnergy{};

  // A job on an exclusive node is charged everything.
  std::ptrdiff_t exclusive = -1;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    if (jobs[j].exclusive) {
      exclusive = static_cast<std::ptrdiff_t>(j);
      break;
    }
  }

  std::vector<std::int64_t> cpu(jobs.size()), rss(jobs.size());
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    cpu[j] = jobs[j].cpu_time.count();
    rss[j] = jobs[j].rss_bytes;
  }
  const Shares cpu_share = make_shares(cpu, machine.cpu_capacity.count());
  // Estimated CPU energy is modelled as busy CPU time × power per core, so a job's part of it is
  // its CPU time over the machine's busy time: that charges the job its own CPU time × power.
  const Shares busy_share = make_shares(cpu, machine.cpu_busy.count());
  const Shares mem_share = make_shares(rss, machine.mem_used_bytes);

  auto split = [&](Domain d, Microjoules e, const Shares& shares) {
    out.machine[d] += e;
    if (exclusive >= 0) {
      out.jobs[static_cast<std::size_t>(exclusive)][d] += e;
      return;
    }
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      out.jobs[j][d] += share_of(e, shares.num[j], shares.den);
    }
  };

  Microjoules node_total;
  Microjoules components;
  for (std::size_t c = 0; c < channels_.size(); ++c) {
    const auto& ch = channels_[c];
    if (!ch.additive) continue;
    const Microjoules e = interval.energy[c];
    switch (ch.domain) {
      case Domain::kGpu: {
        components += e;
        out.machine[Domain::kGpu] += e;
        if (exclusive >= 0) {
          out.jobs[static_cast<std::size_t>(exclusive)][Domain::kGpu] += e;
          break;
        }
        // A GPU belongs to the jobs that may use it; shared by several, it is split evenly.
        std::int64_t owners = 0;
        for (const auto& job : jobs) {
          owners += std::count(job.gpus.begin(), job.gpus.end(), ch.device) > 0 ? 1 : 0;
        }
        for (std::size_t j = 0; j < jobs.size(); ++j) {
          if (std::count(jobs[j].gpus.begin(), jobs[j].gpus.end(), ch.device) > 0) {
            out.jobs[j][Domain::kGpu] += share_of(e, 1, owners);
          }
        }
        break;
      }
      case Domain::kCpuPackage:
      case Domain::kDram:
        components += e;
        split(ch.domain, e, cpu_share);
        break;
      case Domain::kEstimatedCpu:
        components += e;
        split(ch.domain, e, busy_share);
        break;
      case Domain::kEstimatedMemory:
        components += e;
        split(ch.domain, e, mem_share);
        break;
      case Domain::kNode:
        node_total += e;
        break;
      case Domain::kOther:
        break;
    }
  }
  if (has_node_meter_) {
    // The node meter is the total; its components are a breakdown of it. What they do not
    // explain is shared like the CPU. If the components exceed the node (meters that disagree),
    // the rest is 0 and the components stand.
    const Microjoules rest = node_total > components ? node_total - components : Microjoules(0);
    split(Domain::kNode, rest, cpu_share);
  }
  for (std::size_t d = 0; d < out.machine.by_domain.size(); ++d) {
    Microjoules charged;
    for (const auto& job : out.jobs) charged += job.by_domain[d];
    out.unallocated.by_domain[d] = out.machine.by_domain[d] - charged;
  }
}

}  // namespace jobcarbon::attribution
