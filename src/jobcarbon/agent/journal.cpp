#include <jobcarbon/agent/journal.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/record_json.hpp>

namespace jobcarbon::agent {

namespace {

using nlohmann::json;

json energy_json(const attribution::DomainEnergy& e) {
  json a = json::array();
  for (const auto& v : e.by_domain) a.push_back(v.value);
  return a;
}

// A failure to read the journal, with the path of the field.
struct Bad {
  std::string what;
};

const json& field(const json& o, const char* name, const std::string& path) {
  if (!o.is_object() || !o.contains(name)) throw Bad{fmt::format("{}{}: missing", path, name)};
  return o.at(name);
}

std::int64_t integer(const json& o, const char* name, const std::string& path) {
  const json& v = field(o, name, path);
  if (!v.is_number_integer()) throw Bad{fmt::format("{}{}: expected an integer", path, name)};
  return v.get<std::int64_t>();
}

std::string text(const json& o, const char* name, const std::string& path) {
  const json& v = field(o, name, path);
  if (!v.is_string()) throw Bad{fmt::format("{}{}: expected a string", path, name)};
  return v.get<std::string>();
}

attribution::DomainEnergy energy(const json& o, const char* name, const std::string& path) {
  const json& v = field(o, name, path);
  attribution::DomainEnergy e;
  if (!v.is_array() || v.size() != e.by_domain.size()) {
    throw Bad{fmt::format("{}{}: expected {} integers", path, name, e.by_domain.size())};
  }
  for (std::size_t d = 0; d < e.by_domain.size(); ++d) {
    if (!v[d].is_number_integer() || v[d].get<std::int64_t>() < 0) {
      throw Bad{fmt::format("{}{}[{}]: expected a non-negative integer", path, name, d)};
    }
    e.by_domain[d] = Microjoules(v[d].get<std::int64_t>());
  }
  return e;
}

const json& array(const json& o, const char* name, const std::string& path) {
  const json& v = field(o, name, path);
  if (!v.is_array()) throw Bad{fmt::format("{}{}: expected an array", path, name)};
  return v;
}

}  // namespace

std::string serialize_journal(const JournalState& s) {
  json j;
  j["version"] = kJournalVersion;
  j["boot_id"] = s.boot_id;
  j["mono_ns"] = s.mono_ns;
  j["wall_us"] = s.wall_us;
  j["readings"] = json::array();
  for (const auto& r : s.readings)
    j["readings"].push_back({{"channel", r.channel}, {"value", r.value}});
  j["machine_busy_ns"] = s.machine_busy ? json(s.machine_busy->count()) : json(nullptr);
  j["jobs"] = json::array();
  for (const auto& job : s.jobs) {
    std::string line = serialize(Message{job.job});
    json o;
    o["job"] = json::parse(line);
    o["start_us"] = ledger::to_us(job.start);
    o["charged"] = energy_json(job.charged);
    o["machine"] = energy_json(job.machine);
    o["unallocated"] = energy_json(job.unallocated);
    o["cpu_time_ns"] = job.cpu_time.count();
    o["last_cpu_ns"] = job.last_cpu ? json(job.last_cpu->count()) : json(nullptr);
    o["co2_kg"] = job.co2_kg;
    if (job.parent) {
      o["parent"] =
          json::parse(serialize(Message{JobEnd{*job.parent, 0, job.parent->submit_time_us}}));
    }
    j["jobs"].push_back(std::move(o));
  }
  j["idle_open"] = s.idle_open ? ledger::to_json(*s.idle_open) : json(nullptr);
  j["pending_jobs"] = json::array();
  for (const auto& r : s.pending_jobs) j["pending_jobs"].push_back(ledger::to_json(r));
  j["pending_idle"] = json::array();
  for (const auto& r : s.pending_idle) j["pending_idle"].push_back(ledger::to_json(r));
  j["pending_steps"] = json::array();
  for (const auto& r : s.pending_steps) j["pending_steps"].push_back(ledger::to_json(r));
  return j.dump();
}

std::expected<JournalState, std::string> parse_journal(std::string_view text_in) {
  if (text_in.size() > kMaxJournalBytes) {
    return std::unexpected(fmt::format("larger than {} bytes", kMaxJournalBytes));
  }
  const json j = json::parse(text_in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::unexpected(std::string("not JSON"));
  try {
    const std::string top;
    if (integer(j, "version", top) != kJournalVersion) {
      return std::unexpected(fmt::format("version {} is not {}, the version this agent writes",
                                         j.at("version").dump(), kJournalVersion));
    }
    JournalState s;
    s.boot_id = text(j, "boot_id", top);
    s.mono_ns = integer(j, "mono_ns", top);
    s.wall_us = integer(j, "wall_us", top);
    const json& readings = array(j, "readings", top);
    for (std::size_t i = 0; i < readings.size(); ++i) {
      const std::string p = fmt::format("readings[{}].", i);
      s.readings.push_back(
          SavedReading{text(readings[i], "channel", p), integer(readings[i], "value", p)});
    }
    if (const json& b = field(j, "machine_busy_ns", top); !b.is_null()) {
      s.machine_busy = Duration(integer(j, "machine_busy_ns", top));
    }
    const json& jobs = array(j, "jobs", top);
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      const std::string p = fmt::format("jobs[{}].", i);
      const json& o = jobs[i];
      JobState job;
      const auto msg = parse(field(o, "job", p).dump());
      if (!msg) throw Bad{fmt::format("{}job: {}", p, msg.error().message())};
      const auto* start = std::get_if<JobStart>(&*msg);
      if (start == nullptr) throw Bad{fmt::format("{}job: not a job_start", p)};
      job.job = *start;
      job.start = ledger::from_us(integer(o, "start_us", p));
      job.charged = energy(o, "charged", p);
      job.machine = energy(o, "machine", p);
      job.unallocated = energy(o, "unallocated", p);
      job.cpu_time = Duration(integer(o, "cpu_time_ns", p));
      if (!field(o, "last_cpu_ns", p).is_null())
        job.last_cpu = Duration(integer(o, "last_cpu_ns", p));
      const json& co2 = field(o, "co2_kg", p);
      if (!co2.is_number() || co2.get<double>() < 0)
        throw Bad{p + "co2_kg: expected a number >= 0"};
      job.co2_kg = co2.get<double>();
      if (o.contains("parent")) {
        // Kept as a job_end message: the protocol's own validated encoding of a key.
        const auto p_msg = parse(o.at("parent").dump());
        const auto* p_end = p_msg ? std::get_if<JobEnd>(&*p_msg) : nullptr;
        if (p_end == nullptr) throw Bad{p + "parent: not a job key"};
        job.parent = p_end->key;
      }
      s.jobs.push_back(std::move(job));
    }
    if (const json& idle = field(j, "idle_open", top); !idle.is_null()) {
      auto r = ledger::node_idle_from_json(idle);
      if (!r) throw Bad{"idle_open: " + r.error()};
      s.idle_open = *r;
    }
    const json& pj = array(j, "pending_jobs", top);
    for (std::size_t i = 0; i < pj.size(); ++i) {
      auto r = ledger::job_record_from_json(pj[i]);
      if (!r) throw Bad{fmt::format("pending_jobs[{}]: {}", i, r.error())};
      s.pending_jobs.push_back(std::move(*r));
    }
    const json& pi = array(j, "pending_idle", top);
    for (std::size_t i = 0; i < pi.size(); ++i) {
      auto r = ledger::node_idle_from_json(pi[i]);
      if (!r) throw Bad{fmt::format("pending_idle[{}]: {}", i, r.error())};
      s.pending_idle.push_back(std::move(*r));
    }
    // Optional: journals of agents before step records have none (and such an agent, should it
    // be started again on a newer journal, ignores the field: only the steps are lost, never a
    // job's record), so the format stays version 1.
    if (j.contains("pending_steps")) {
      const json& ps = array(j, "pending_steps", top);
      for (std::size_t i = 0; i < ps.size(); ++i) {
        auto r = ledger::job_record_from_json(ps[i]);
        if (!r) throw Bad{fmt::format("pending_steps[{}]: {}", i, r.error())};
        s.pending_steps.push_back(std::move(*r));
      }
    }
    return s;
  } catch (const Bad& b) {
    return std::unexpected(b.what);
  } catch (const json::exception& e) {
    return std::unexpected(std::string("malformed: ") + e.what());
  }
}

}  // namespace jobcarbon::agent
