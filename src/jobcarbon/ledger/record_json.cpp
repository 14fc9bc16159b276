#include <jobcarbon/ledger/record_json.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace jobcarbon::ledger {
namespace {

using json = nlohmann::json;

json energy_json(const DomainEnergy& e) {
  return {{"gpu", e.gpu.value},
          {"cpu", e.cpu.value},
          {"dram", e.dram.value},
          {"node", e.node.value},
          {"estimated_cpu", e.estimated_cpu.value},
          {"estimated_memory", e.estimated_memory.value}};
}

// Reads the fields of one JSON object by name into a record. Keeps the first error and stops
// reading after it, and remembers which fields were read so that finish() can refuse the ones
// it does not know (a typo or a newer format must not silently become a default).
class Reader {
 public:
  Reader(const json& object, std::string prefix) : object_(object), prefix_(std::move(prefix)) {
    if (!object_.is_object()) {
      error_ = fmt::format("{}: expected an object", prefix_.empty() ? "record" : prefix_);
    }
  }

  void string(std::string_view name, std::string& out) {
    const json* v = field(name);
    if (v == nullptr) return;
    if (!v->is_string()) return fail(name, "expected a string");
    out = v->get<std::string>();
  }

  void int64(std::string_view name, std::int64_t& out) {
    const json* v = field(name);
    if (v == nullptr) return;
    if (!v->is_number_integer()) return fail(name, "expected an integer");
    if (v->is_number_unsigned()) {
      const auto u = v->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return fail(name, fmt::format("{} is out of range", u));
      }
      out = static_cast<std::int64_t>(u);
    } else {
      out = v->get<std::int64_t>();
    }
  }

  void integer(std::string_view name, int& out) {
    std::int64_t wide = 0;
    int64(name, wide);
    if (error_) return;
    if (wide < std::numeric_limits<int>::min() || wide > std::numeric_limits<int>::max()) {
      return fail(name, fmt::format("{} is out of range", wide));
    }
    out = static_cast<int>(wide);
  }

  void time(std::string_view name, Timestamp& out) {
    std::int64_t us = 0;
    int64(name, us);
    if (!error_) out = from_us(us);
  }

  void energy(std::string_view name, Microjoules& out) {
    std::int64_t uj = 0;
    int64(name, uj);
    if (error_) return;
    if (uj < 0) return fail(name, fmt::format("negative energy {}", uj));
    out = Microjoules(uj);
  }

  // Integers are taken too: a hand-written 4 means 4.0.
  void number(std::string_view name, double& out) {
    const json* v = field(name);
    if (v == nullptr) return;
    if (!v->is_number()) return fail(name, "expected a number");
    out = v->get<double>();
  }

  void optional_number(std::string_view name, std::optional<double>& out) {
    known_.insert(std::string(name));
    if (error_) return;
    const auto it = object_.find(name);
    if (it == object_.end() || it->is_null()) {
      out.reset();
      return;
    }
    if (!it->is_number()) return fail(name, "expected a number or null");
    out = it->get<double>();
  }

  void string_map(std::string_view name, std::map<std::string, std::string>& out) {
    const json* v = field(name);
    if (v == nullptr) return;
    if (!v->is_object()) return fail(name, "expected an object of strings");
    out.clear();
    for (const auto& [key, value] : v->items()) {
      if (!value.is_string()) {
        return fail(fmt::format("{}.{}", name, key), "expected a string");
      }
      out.emplace(key, value.get<std::string>());
    }
  }

  void string_list(std::string_view name, std::vector<std::string>& out) {
    const json* v = field(name);
    if (v == nullptr) return;
    if (!v->is_array()) return fail(name, "expected an array of strings");
    out.clear();
    for (std::size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) return fail(fmt::format("{}[{}]", name, i), "expected a string");
      out.push_back((*v)[i].get<std::string>());
    }
  }

  // Return a reader of the nested object NAME (a failed one when this reader has failed).
  Reader nested(std::string_view name) {
    const json* v = field(name);
    static const json kNull;
    Reader inner(v == nullptr ? kNull : *v, path(name));
    if (error_) inner.error_ = error_;
    return inner;
  }

  // Take the nested reader's outcome: its first error, or its unknown fields.
  void take(Reader& inner) {
    if (error_) return;
    error_ = inner.finish();
  }

  // Return the first error, or the first field not read (by name order), or nullopt.
  std::optional<std::string> finish() {
    if (error_) return error_;
    for (const auto& [key, value] : object_.items()) {
      if (!known_.contains(key)) return fmt::format("{}: unknown field", path(key));
    }
    return std::nullopt;
  }

 private:
  std::string path(std::string_view name) const {
    return prefix_.empty() ? std::string(name) : fmt::format("{}.{}", prefix_, name);
  }

  // Return the field NAME, or nullptr (with the error set) when it is missing or an earlier
  // field failed.
  const json* field(std::string_view name) {
    known_.insert(std::string(name));
    if (error_) return nullptr;
    const auto it = object_.find(name);
    if (it == object_.end()) {
      fail(name, "missing");
      return nullptr;
    }
    return &*it;
  }

  void fail(std::string_view name, std::string_view problem) {
    if (!error_) error_ = fmt::format("{}: {}", path(name), problem);
  }

  const json& object_;
  std::string prefix_;
  std::set<std::string, std::less<>> known_;
  std::optional<std::string> error_;
};

template <typename T>
std::expected<T, std::string> done(Reader& reader, T value) {
  if (auto error = reader.finish()) return std::unexpected(std::move(*error));
  return value;
}

}  // namespace

json to_json(const JobRecord& r) {
  return {
      {"cluster", r.cluster},
      {"job_id", r.job_id},
      {"submit_time", to_us(r.submit_time)},
      {"step", r.step},
      {"node", r.node},
      {"user", r.user},
      {"account", r.account},
      {"tags", r.tags},
      {"start", to_us(r.start)},
      {"end", to_us(r.end)},
      {"exit_code", r.exit_code},
      {"command", r.command},
      {"energy", energy_json(r.energy)},
      {"energy_charged", r.energy_charged.value},
      {"machine_energy", r.machine_energy.value},
      {"unallocated_energy", r.unallocated_energy.value},
      {"method", r.method},
      {"gpu_count", r.gpu_count},
      {"gpu_model", r.gpu_model},
      {"cpus", r.cpus},
      {"work_count", r.work_count ? json(*r.work_count) : json(nullptr)},
      {"work_unit", r.work_unit},
      {"intensity_kg_per_kwh", r.intensity_kg_per_kwh},
      {"intensity_zone", r.intensity_zone},
      {"intensity_dataset", r.intensity_dataset},
      {"intensity_year", r.intensity_year},
      {"pue", r.pue},
      {"co2_kg", r.co2_kg},
      {"report_json", r.report_json},
  };
}

json to_json(const NodeIdle& idle) {
  return {{"cluster", idle.cluster},
          {"node", idle.node},
          {"start", to_us(idle.start)},
          {"end", to_us(idle.end)},
          {"energy", idle.energy.value}};
}

json to_json(const RunningRecord& r) {
  return {{"cluster", r.cluster},
          {"job_id", r.job_id},
          {"submit_time", to_us(r.submit_time)},
          {"step", r.step},
          {"node", r.node},
          {"user", r.user},
          {"account", r.account},
          {"start", to_us(r.start)},
          {"updated", to_us(r.updated)},
          {"energy_charged", r.energy_charged.value},
          {"co2_kg", r.co2_kg},
          {"gpu_count", r.gpu_count},
          {"gpu_model", r.gpu_model}};
}

std::expected<JobRecord, std::string> job_record_from_json(const json& j) {
  JobRecord r;
  Reader in(j, "");
  in.string("cluster", r.cluster);
  in.string("job_id", r.job_id);
  in.time("submit_time", r.submit_time);
  in.string("step", r.step);
  in.string("node", r.node);
  in.string("user", r.user);
  in.string("account", r.account);
  in.string_map("tags", r.tags);
  in.time("start", r.start);
  in.time("end", r.end);
  in.integer("exit_code", r.exit_code);
  in.string_list("command", r.command);
  Reader energy = in.nested("energy");
  energy.energy("gpu", r.energy.gpu);
  energy.energy("cpu", r.energy.cpu);
  energy.energy("dram", r.energy.dram);
  energy.energy("node", r.energy.node);
  energy.energy("estimated_cpu", r.energy.estimated_cpu);
  energy.energy("estimated_memory", r.energy.estimated_memory);
  in.take(energy);
  in.energy("energy_charged", r.energy_charged);
  in.energy("machine_energy", r.machine_energy);
  in.energy("unallocated_energy", r.unallocated_energy);
  in.string("method", r.method);
  in.integer("gpu_count", r.gpu_count);
  in.string("gpu_model", r.gpu_model);
  in.number("cpus", r.cpus);
  in.optional_number("work_count", r.work_count);
  in.string("work_unit", r.work_unit);
  in.number("intensity_kg_per_kwh", r.intensity_kg_per_kwh);
  in.string("intensity_zone", r.intensity_zone);
  in.string("intensity_dataset", r.intensity_dataset);
  in.integer("intensity_year", r.intensity_year);
  in.number("pue", r.pue);
  in.number("co2_kg", r.co2_kg);
  in.string("report_json", r.report_json);
  return done(in, std::move(r));
}

std::expected<NodeIdle, std::string> node_idle_from_json(const json& j) {
  NodeIdle idle;
  Reader in(j, "");
  in.string("cluster", idle.cluster);
  in.string("node", idle.node);
  in.time("start", idle.start);
  in.time("end", idle.end);
  in.energy("energy", idle.energy);
  return done(in, std::move(idle));
}

std::expected<RunningRecord, std::string> running_record_from_json(const json& j) {
  RunningRecord r;
  Reader in(j, "");
  in.string("cluster", r.cluster);
  in.string("job_id", r.job_id);
  in.time("submit_time", r.submit_time);
  in.string("step", r.step);
  in.string("node", r.node);
  in.string("user", r.user);
  in.string("account", r.account);
  in.time("start", r.start);
  in.time("updated", r.updated);
  in.energy("energy_charged", r.energy_charged);
  in.number("co2_kg", r.co2_kg);
  in.integer("gpu_count", r.gpu_count);
  in.string("gpu_model", r.gpu_model);
  return done(in, std::move(r));
}

}  // namespace jobcarbon::ledger
