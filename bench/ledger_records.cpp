#include "ledger_records.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string_view>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace jobcarbon::bench {
namespace {

using std::chrono::microseconds;

// Draws from the engine's raw output (fixed by the standard, unlike the distributions').
std::int64_t uniform(std::mt19937_64& rng, std::int64_t lo, std::int64_t hi) {
  return lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
}
double unit(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1)
}
bool chance(std::mt19937_64& rng, double p) {
  return unit(rng) < p;
}
// Return an index drawn with the given relative weights.
template <std::size_t N>
std::size_t weighted(std::mt19937_64& rng, const std::array<int, N>& weights) {
  int total = 0;
  for (int w : weights) total += w;
  std::int64_t x = uniform(rng, 0, total - 1);
  for (std::size_t i = 0; i < N; ++i) {
    if (x < weights[i]) return i;
    x -= weights[i];
  }
  return N - 1;
}

int year_of(ledger::Timestamp t) {
  return static_cast<int>(
      std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(t)).year());
}

std::string iso(ledger::Timestamp t) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", std::chrono::floor<std::chrono::seconds>(t));
}

// Energy of POWER watts over DURATION, in µJ (W × µs).
Microjoules energy(double watts, microseconds duration) {
  return Microjoules(std::llround(watts * static_cast<double>(duration.count())));
}

// A compact run report as an agent might store it (the keys of docs/report-schema.md that a
// cluster record has; a `jobcarbon run` report with its channel list is larger).
std::string report_json(const ledger::JobRecord& r) {
  nlohmann::ordered_json j;
  j["schema_version"] = 1;
  j["job_id"] = r.job_id;
  j["host"] = r.node;
  j["account"] = r.account;
  j["command"] = r.command;
  j["exit_code"] = r.exit_code;
  j["start"] = iso(r.start);
  j["end"] = iso(r.end);
  j["duration_s"] = std::chrono::duration<double>(r.end - r.start).count();
  auto& gpus = j["gpus"] = nlohmann::json::array();
  for (int g = 0; g < r.gpu_count; ++g) {
    gpus.push_back(fmt::format("{} (GPU-{:08x}-{:04x})", r.gpu_model,
                               std::hash<std::string>{}(r.node) & 0xffffffffu, g));
  }
  j["energy_uj"] = r.energy_charged.value;
  j["domains_uj"] = {{"gpu", r.energy.gpu.value},
                     {"cpu", r.energy.cpu.value},
                     {"dram", r.energy.dram.value},
                     {"node", r.energy.node.value},
                     {"estimated_cpu", r.energy.estimated_cpu.value},
                     {"estimated_memory", r.energy.estimated_memory.value}};
  j["machine_energy_uj"] = r.machine_energy.value;
  j["unallocated_energy_uj"] = r.unallocated_energy.value;
  j["method"] = r.method;
  j["intensity"] = {{"kg_per_kwh", r.intensity_kg_per_kwh},
                    {"zone", r.intensity_zone},
                    {"dataset", r.intensity_dataset},
                    {"year", r.intensity_year}};
  j["pue"] = r.pue;
  j["co2_kg"] = r.co2_kg;
  return j.dump();
}

}  // namespace

Population make_population() {
  static constexpr std::array<std::string_view, 8> kInstitutes = {
      "physics",     "chemistry",   "biology", "medicine",
      "informatics", "mathematics", "earth",   "engineering"};
  static constexpr std::array<std::string_view, 5> kDepartments = {"theory", "experiment",
                                                                   "computing", "lab", "applied"};
  static constexpr std::array<std::string_view, 7> kGroups = {"alpha", "beta", "gamma", "delta",
                                                              "eps",   "zeta", "eta"};
  static constexpr std::array<std::string_view, 30> kSurnames = {
      "smith",    "mueller", "rossi",   "virtanen", "meier",  "bianchi", "schmidt", "korhonen",
      "weber",    "romano",  "fischer", "nieminen", "wagner", "colombo", "becker",  "makinen",
      "hoffmann", "ricci",   "keller",  "laine",    "huber",  "marino",  "koch",    "heikkinen",
      "schulz",   "greco",   "wolf",    "koskinen", "braun",  "bruno"};
  Population p;
  std::mt19937_64 rng(3);
  std::vector<std::size_t> groups;
  for (auto inst : kInstitutes) {
    const std::size_t root = p.accounts.size();
    p.accounts.push_back({std::string(inst), std::nullopt, {}});
    for (auto dept : kDepartments) {
      const std::size_t d = p.accounts.size();
      p.accounts.push_back({fmt::format("{}-{}", inst, dept), root, {}});
      for (auto group : kGroups) {
        groups.push_back(p.accounts.size());
        p.accounts.push_back({fmt::format("{}-{}-{}", inst, dept, group), d, {}});
      }
    }
  }
  constexpr std::size_t kUsers = 3000;
  constexpr std::size_t kGroupsPerInstitute = kDepartments.size() * kGroups.size();
  for (std::size_t i = 0; i < kUsers; ++i) {
    p.users.push_back(fmt::format("{}{}{}", static_cast<char>('a' + i % 26),
                                  kSurnames[(i / 26) % kSurnames.size()], i / 780 + 1));
    const auto g = static_cast<std::size_t>(uniform(rng, 0, std::ssize(groups) - 1));
    // A second group in the same institute (collaborations rarely cross institutes here).
    const std::size_t first_of_institute = g / kGroupsPerInstitute * kGroupsPerInstitute;
    const auto g2 =
        first_of_institute + static_cast<std::size_t>(uniform(rng, 0, kGroupsPerInstitute - 1));
    p.user_group.push_back(groups[g]);
    p.user_second_group.push_back(groups[g2]);
    p.accounts[groups[g]].users.push_back(i);
    if (g2 != g) p.accounts[groups[g2]].users.push_back(i);
  }
  p.clusters = {
      {"alps", "CH", 0.03672, 1.15, "NVIDIA GH200 120GB", 4, 2688, 250, 680},
      {"juwels", "DE", 0.34206, 1.25, "NVIDIA A100-SXM4-40GB", 4, 936, 150, 400},
      {"leonardo", "IT", 0.28775, 1.10, "NVIDIA A100-SXM4-64GB", 4, 3456, 150, 440},
      {"lumi", "FI", 0.07225, 1.10, "AMD Instinct MI250X", 8, 2978, 200, 560},
  };
  return p;
}

RecordStream::RecordStream(const Population& population, std::size_t count, std::uint64_t seed,
                           std::int64_t first_job_id)
    : population_(population),
      count_(count),
      rng_(seed),
      next_job_id_(population.clusters.size(), first_job_id) {}

std::optional<ledger::JobRecord> RecordStream::next() {
  if (pending_.empty()) {
    if (emitted_ >= count_) return std::nullopt;
    begin_job();
  }
  ledger::JobRecord r = std::move(pending_.back());
  pending_.pop_back();
  ++emitted_;
  if (year_of(r.start) != year_of(r.end)) ++spanning_new_year_;
  if (emitted_ == count_) pending_.clear();  // the last job may be cut short
  return r;
}

void RecordStream::begin_job() {
  auto& rng = rng_;
  ++jobs_;
  const std::size_t c = weighted(rng, std::array{35, 25, 25, 15});
  const BenchCluster& cluster = population_.clusters[c];

  // A few users run most jobs (u² skews towards the first users).
  const double u = unit(rng);
  const auto user = static_cast<std::size_t>(u * u * static_cast<double>(population_.users.size()));
  std::size_t account = population_.user_group[user];
  if (const double a = unit(rng); a < 0.10) {
    account = population_.user_second_group[user];
  } else if (a < 0.15) {
    account = *population_.accounts[account].parent;  // charged to the department itself
  }

  static constexpr std::array kNodes = {1, 2, 4, 8, 16};
  int nodes = kNodes[weighted(rng, std::array{58, 15, 15, 10, 2})];
  int gpus_per_node = cluster.gpus_per_node;
  if (nodes == 1) {
    static constexpr std::array kSmall = {1, 2, 4, 8};
    do {
      gpus_per_node = kSmall[static_cast<std::size_t>(uniform(rng, 0, 3))];
    } while (gpus_per_node > cluster.gpus_per_node);
  }
  nodes = std::min(nodes, 64 / gpus_per_node);  // at most 64 GPUs per job

  // Starts advance with the records written, so COUNT records cover the span evenly.
  const auto offset = microseconds(
      static_cast<std::int64_t>(static_cast<double>(kSpanLength.count()) *
                                static_cast<double>(emitted_) / static_cast<double>(count_)));
  const ledger::Timestamp start = kSpanStart + offset + microseconds(uniform(rng, 0, 300'000'000));
  // Durations log-uniform from 2 minutes to 3 days.
  const double seconds = std::exp(std::log(120.0) + unit(rng) * std::log(259'200.0 / 120.0));
  const auto duration = microseconds(std::llround(seconds * 1e6));
  const ledger::Timestamp submit = start - microseconds(uniform(rng, 5, 4 * 3600) * 1'000'000);

  static constexpr std::array kExit = {0, 1, 137, 143};
  const int exit_code = kExit[weighted(rng, std::array{90, 5, 3, 2})];
  static constexpr std::array<std::string_view, 3> kMethods = {"measured", "mixed", "estimated"};
  const std::string_view method = kMethods[weighted(rng, std::array{92, 5, 3})];
  const double gpu_watts =
      static_cast<double>(uniform(rng, cluster.gpu_watts_low, cluster.gpu_watts_high));
  const double cpu_watts = static_cast<double>(uniform(rng, 120, 350));
  const double dram_watts = static_cast<double>(uniform(rng, 15, 45));
  const double node_watts = chance(rng, 0.2) ? static_cast<double>(uniform(rng, 30, 80)) : 0.0;
  const double cpus_per_gpu = static_cast<double>(std::array{8, 16, 18, 32}[uniform(rng, 0, 3)]);
  // A third of the jobs say how much work they did (samples), for throughput per kWh; 0: no.
  const double samples_per_second =
      chance(rng, 0.33) ? static_cast<double>(uniform(rng, 200, 20'000)) : 0.0;

  std::map<std::string, std::string> tags;
  if (chance(rng, 0.7)) tags["project"] = fmt::format("p{:03}", uniform(rng, 0, 499));
  if (chance(rng, 0.4)) tags["experiment"] = fmt::format("run-{}", uniform(rng, 1, 5000));
  if (chance(rng, 0.5)) {
    static constexpr std::array<std::string_view, 3> kFrameworks = {"pytorch", "jax", "tensorflow"};
    tags["framework"] = kFrameworks[static_cast<std::size_t>(uniform(rng, 0, 2))];
  }
  std::vector<std::string> command;
  if (nodes > 1) {
    command = {"torchrun", fmt::format("--nnodes={}", nodes),
               fmt::format("--nproc-per-node={}", gpus_per_node), "train.py"};
  } else {
    command = {"python", "train.py"};
  }
  command.push_back("--config");
  command.push_back(fmt::format("configs/exp-{}.yaml", uniform(rng, 1, 900)));

  // Steps run one after the other; most jobs have one (the whole job, step "").
  const bool two_steps = chance(rng, 0.25);
  const double first_share = two_steps ? static_cast<double>(uniform(rng, 30, 70)) / 100 : 1.0;
  const std::int64_t job_id = next_job_id_[c]++;
  const auto first_node = uniform(rng, 0, cluster.nodes - 1);
  std::vector<ledger::JobRecord> records;
  for (int s = 0; s < (two_steps ? 2 : 1); ++s) {
    const auto split =
        start + microseconds(std::llround(static_cast<double>(duration.count()) * first_share));
    const ledger::Timestamp step_start = s == 0 ? start : split;
    const ledger::Timestamp step_end = s == 0 && two_steps ? split : start + duration;
    for (int n = 0; n < nodes; ++n) {
      ledger::JobRecord r;
      r.cluster = cluster.name;
      r.job_id = std::to_string(job_id);
      r.submit_time = submit;
      r.step = two_steps ? std::to_string(s) : "";
      r.node = fmt::format("{}-nid{:04}", cluster.name, (first_node + n) % cluster.nodes + 1);
      r.user = population_.users[user];
      r.account = population_.accounts[account].name;
      r.tags = tags;
      r.start = step_start;
      r.end = step_end;
      r.exit_code = s == 0 && two_steps ? 0 : exit_code;
      r.command = command;
      const auto t = step_end - step_start;
      const double spread = static_cast<double>(uniform(rng, 95, 105)) / 100;  // per node
      r.energy.gpu = energy(gpu_watts * gpus_per_node * spread, t);
      const Microjoules cpu = energy(cpu_watts * spread, t);
      const Microjoules dram = energy(dram_watts * spread, t);
      (method == "estimated" ? r.energy.estimated_cpu : r.energy.cpu) = cpu;
      (method == "measured" ? r.energy.dram : r.energy.estimated_memory) = dram;
      r.energy.node = energy(node_watts, t);
      r.energy_charged = r.energy.total();
      r.unallocated_energy = energy(static_cast<double>(uniform(rng, 0, 40)), t);
      r.machine_energy = r.energy_charged + r.unallocated_energy;
      r.method = std::string(method);
      r.gpu_count = gpus_per_node;
      r.gpu_model = cluster.gpu_model;
      r.cpus = cpus_per_gpu * gpus_per_node;
      if (samples_per_second > 0) {
        r.work_count = std::round(samples_per_second * gpus_per_node *
                                  std::chrono::duration<double>(t).count());
        r.work_unit = "samples";
      }
      r.intensity_kg_per_kwh = cluster.intensity;
      r.intensity_zone = cluster.zone;
      r.intensity_dataset = "ember";
      r.intensity_year = 2024;
      r.pue = cluster.pue;
      r.co2_kg = to_kwh(r.energy_charged) * cluster.pue * cluster.intensity;
      r.report_json = report_json(r);
      records.push_back(std::move(r));
    }
  }
  // next() takes from the back: reverse so records come out in step, then node order.
  pending_.assign(std::make_move_iterator(records.rbegin()),
                  std::make_move_iterator(records.rend()));
}

}  // namespace jobcarbon::bench
