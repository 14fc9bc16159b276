#include <jobcarbon/agent/protocol.hpp>

#include <cmath>
#include <limits>
#include <set>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace jobcarbon::agent {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
template <typename T>
using Result = std::expected<T, ProtocolError>;

std::unexpected<ProtocolError> invalid(std::string field, std::string problem) {
  return std::unexpected(ProtocolError{"invalid_field", std::move(field), std::move(problem)});
}

std::string join(std::string_view prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : fmt::format("{}.{}", prefix, name);
}

// The fields of one JSON object, read by name; remembers which were read so that a field the
// protocol does not know is refused (a typo must not silently become a default).
class Fields {
 public:
  Fields(const json& object, std::string prefix) : object_(object), prefix_(std::move(prefix)) {}

  std::string path(std::string_view name) const { return join(prefix_, name); }

  // Return the field, or nullptr when it is absent.
  const json* find(std::string_view name) {
    known_.insert(std::string(name));
    const auto it = object_.find(name);
    return it == object_.end() ? nullptr : &*it;
  }

  Result<const json*> require(std::string_view name) {
    const json* value = find(name);
    if (value == nullptr) return invalid(path(name), "is missing");
    return value;
  }

  // Return the first field that was never asked for, as an error naming the message type.
  Result<void> no_others(std::string_view what) const {
    for (const auto& [key, value] : object_.items()) {
      if (!known_.contains(key)) {
        return invalid(join(prefix_, key), fmt::format("is not a field of {}", what));
      }
    }
    return {};
  }

 private:
  const json& object_;
  std::string prefix_;
  std::set<std::string, std::less<>> known_;
};

Result<std::int64_t> integer(const json& value, const std::string& path, std::int64_t lo,
                             std::int64_t hi) {
  const auto range = [&] {
    return invalid(path, fmt::format("must be an integer from {} to {}", lo, hi));
  };
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi)) return range();
    if (static_cast<std::int64_t>(u) < lo) return range();
    return static_cast<std::int64_t>(u);
  }
  if (value.is_number_integer()) {
    const auto i = value.get<std::int64_t>();
    if (i < lo || i > hi) return range();
    return i;
  }
  return range();
}

Result<std::string> text(const json& value, const std::string& path, bool allow_empty) {
  if (!value.is_string()) return invalid(path, "must be a string");
  const auto& s = value.get_ref<const std::string&>();
  if (!allow_empty && s.empty()) return invalid(path, "must not be empty");
  if (s.size() > kMaxStringBytes) {
    return invalid(path, fmt::format("is longer than {} bytes", kMaxStringBytes));
  }
  // "\u0000" is valid JSON, but NUL ends C strings in the Slurm plugin and in file paths.
  if (s.find('\0') != std::string::npos) return invalid(path, "must not contain NUL");
  return s;
}

Result<std::string> required_text(Fields& f, std::string_view name, bool allow_empty = false) {
  auto v = f.require(name);
  if (!v) return std::unexpected(v.error());
  return text(**v, f.path(name), allow_empty);
}

Result<std::int64_t> required_integer(Fields& f, std::string_view name, std::int64_t lo,
                                      std::int64_t hi) {
  auto v = f.require(name);
  if (!v) return std::unexpected(v.error());
  return integer(**v, f.path(name), lo, hi);
}

#define JOBCARBON_TRY(target, expr)                                \
  do {                                                             \
    auto try_result_ = (expr);                                     \
    if (!try_result_) return std::unexpected(try_result_.error()); \
    target = std::move(*try_result_);                              \
  } while (false)

Result<JobKey> job_key(Fields& f) {
  JobKey key;
  JOBCARBON_TRY(key.cluster, required_text(f, "cluster"));
  JOBCARBON_TRY(key.job_id, required_text(f, "job_id"));
  JOBCARBON_TRY(key.submit_time_us, required_integer(f, "submit_time_us", 0, kMaxTimeMicros));
  JOBCARBON_TRY(key.step, required_text(f, "step"));
  return key;
}

// A cgroup path is joined to the cgroup root by the agent, so it must not climb out of it.
Result<void> check_cgroup(const std::string& cgroup, const std::string& path) {
  if (cgroup.empty()) return {};
  if (cgroup.front() != '/') return invalid(path, "must be an absolute path (start with '/')");
  std::size_t start = 0;
  while (start <= cgroup.size()) {
    const auto end = std::min(cgroup.find('/', start), cgroup.size());
    if (cgroup.substr(start, end - start) == "..") {
      return invalid(path, "must not contain '..' components");
    }
    start = end + 1;
  }
  return {};
}

Result<Message> parse_job_start(Fields& f) {
  JobStart m;
  JOBCARBON_TRY(m.key, job_key(f));
  JOBCARBON_TRY(m.user, required_text(f, "user"));
  JOBCARBON_TRY(m.uid, required_integer(f, "uid", 0, kMaxUid));
  if (const json* v = f.find("account")) JOBCARBON_TRY(m.account, text(*v, "account", true));
  if (const json* v = f.find("gpus")) {
    if (!v->is_array()) return invalid("gpus", "must be an array of strings");
    if (v->size() > kMaxListEntries) {
      return invalid("gpus", fmt::format("has more than {} entries", kMaxListEntries));
    }
    for (std::size_t i = 0; i < v->size(); ++i) {
      const auto path = fmt::format("gpus[{}]", i);
      std::string uuid;
      JOBCARBON_TRY(uuid, text((*v)[i], path, false));
      // A GPU listed twice would be charged to the job twice.
      for (const auto& seen : m.gpus) {
        if (seen == uuid) return invalid(path, "lists the same GPU twice");
      }
      m.gpus.push_back(std::move(uuid));
    }
  }
  if (const json* v = f.find("cgroup")) {
    JOBCARBON_TRY(m.cgroup, text(*v, "cgroup", true));
    auto ok = check_cgroup(m.cgroup, "cgroup");
    if (!ok) return std::unexpected(ok.error());
  }
  if (const json* v = f.find("pids")) {
    if (!v->is_array()) return invalid("pids", "must be an array of integers");
    if (v->size() > kMaxListEntries) {
      return invalid("pids", fmt::format("has more than {} entries", kMaxListEntries));
    }
    std::set<std::int64_t> seen;
    for (std::size_t i = 0; i < v->size(); ++i) {
      const auto path = fmt::format("pids[{}]", i);
      std::int64_t pid = 0;
      JOBCARBON_TRY(pid, integer((*v)[i], path, 1, kMaxPid));
      if (!seen.insert(pid).second) return invalid(path, "lists the same pid twice");
      m.pids.push_back(pid);
    }
  }
  if (const json* v = f.find("gpu_indices")) {
    if (!v->is_array()) return invalid("gpu_indices", "must be an array of integers");
    if (v->size() > kMaxListEntries) {
      return invalid("gpu_indices", fmt::format("has more than {} entries", kMaxListEntries));
    }
    std::set<std::int64_t> seen;
    for (std::size_t i = 0; i < v->size(); ++i) {
      const auto path = fmt::format("gpu_indices[{}]", i);
      std::int64_t index = 0;
      JOBCARBON_TRY(index, integer((*v)[i], path, 0, 65535));
      if (!seen.insert(index).second) return invalid(path, "lists the same GPU twice");
      m.gpu_indices.push_back(index);
    }
  }
  if (const json* v = f.find("exclusive")) {
    if (!v->is_boolean()) return invalid("exclusive", "must be true or false");
    m.exclusive = v->get<bool>();
  }
  if (const json* v = f.find("tags")) {
    if (!v->is_object()) return invalid("tags", "must be an object of strings");
    if (v->size() > kMaxListEntries) {
      return invalid("tags", fmt::format("has more than {} entries", kMaxListEntries));
    }
    for (const auto& [name, value] : v->items()) {
      const auto path = join("tags", name);
      std::string checked_name;
      JOBCARBON_TRY(checked_name, text(json(name), "tags", false));
      JOBCARBON_TRY(m.tags[checked_name], text(value, path, true));
    }
  }
  return m;
}

Result<Message> parse_job_end(Fields& f) {
  JobEnd m;
  JOBCARBON_TRY(m.key, job_key(f));
  JOBCARBON_TRY(m.exit_code,
                required_integer(f, "exit_code", std::numeric_limits<std::int32_t>::min(),
                                 std::numeric_limits<std::int32_t>::max()));
  JOBCARBON_TRY(m.end_time_us, required_integer(f, "end_time_us", 0, kMaxTimeMicros));
  if (m.end_time_us < m.key.submit_time_us) {
    return invalid("end_time_us", "is before submit_time_us");
  }
  return m;
}

Result<Message> parse_error(Fields& f) {
  Error m;
  JOBCARBON_TRY(m.code, required_text(f, "code"));
  JOBCARBON_TRY(m.message, required_text(f, "message", true));
  return m;
}

Result<Message> parse_status_reply(Fields& f) {
  StatusReply m;
  const json* jobs = nullptr;
  JOBCARBON_TRY(jobs, f.require("jobs"));
  if (!jobs->is_array()) return invalid("jobs", "must be an array of objects");
  if (jobs->size() > kMaxListEntries) {
    return invalid("jobs", fmt::format("has more than {} entries", kMaxListEntries));
  }
  for (std::size_t i = 0; i < jobs->size(); ++i) {
    const auto path = fmt::format("jobs[{}]", i);
    if (!(*jobs)[i].is_object()) return invalid(path, "must be an object");
    Fields jf((*jobs)[i], path);
    RunningJob job;
    JOBCARBON_TRY(job.key, job_key(jf));
    JOBCARBON_TRY(job.user, required_text(jf, "user"));
    JOBCARBON_TRY(job.uid, required_integer(jf, "uid", 0, kMaxUid));
    JOBCARBON_TRY(job.energy.value,
                  required_integer(jf, "energy_uj", 0, std::numeric_limits<std::int64_t>::max()));
    const json* co2 = nullptr;
    JOBCARBON_TRY(co2, jf.require("co2_kg"));
    if (!co2->is_number() || !std::isfinite(co2->get<double>()) || co2->get<double>() < 0) {
      return invalid(jf.path("co2_kg"), "must be a finite number, not negative");
    }
    job.co2_kg = co2->get<double>();
    auto others = jf.no_others("a status_reply job");
    if (!others) return std::unexpected(others.error());
    m.jobs.push_back(std::move(job));
  }
  return m;
}

Result<double> number(Fields& f, std::string_view name, double lo, double hi) {
  const json* v = nullptr;
  JOBCARBON_TRY(v, f.require(name));
  if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() < lo ||
      v->get<double>() > hi) {
    return invalid(f.path(name), fmt::format("must be a finite number from {} to {}", lo, hi));
  }
  return v->get<double>();
}

Result<DomainsUj> domains(Fields& f, std::string_view name) {
  const json* d = nullptr;
  JOBCARBON_TRY(d, f.require(name));
  if (!d->is_object()) return invalid(f.path(name), "must be an object");
  Fields df(*d, f.path(name));
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  DomainsUj m;
  JOBCARBON_TRY(m.gpu.value, required_integer(df, "gpu", 0, kMax));
  JOBCARBON_TRY(m.cpu.value, required_integer(df, "cpu", 0, kMax));
  JOBCARBON_TRY(m.dram.value, required_integer(df, "dram", 0, kMax));
  JOBCARBON_TRY(m.node.value, required_integer(df, "node", 0, kMax));
  JOBCARBON_TRY(m.estimated_cpu.value, required_integer(df, "estimated_cpu", 0, kMax));
  JOBCARBON_TRY(m.estimated_memory.value, required_integer(df, "estimated_memory", 0, kMax));
  auto others = df.no_others(name);
  if (!others) return std::unexpected(others.error());
  return m;
}

ojson domains_json(const DomainsUj& m) {
  return ojson{{"gpu", m.gpu.value},
               {"cpu", m.cpu.value},
               {"dram", m.dram.value},
               {"node", m.node.value},
               {"estimated_cpu", m.estimated_cpu.value},
               {"estimated_memory", m.estimated_memory.value}};
}

Result<Message> parse_job_report(Fields& f) {
  JobReport m;
  JOBCARBON_TRY(m.key, job_key(f));
  if (const json* parent = f.find("parent"); parent != nullptr && !parent->is_null()) {
    if (!parent->is_object()) return invalid("parent", "must be an object or null");
    Fields pf(*parent, "parent");
    JobKey k;
    JOBCARBON_TRY(k, job_key(pf));
    auto others = pf.no_others("a job key");
    if (!others) return std::unexpected(others.error());
    m.parent = k;
  }
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  JOBCARBON_TRY(m.charged, domains(f, "domains_uj"));
  JOBCARBON_TRY(m.machine, domains(f, "machine_domains_uj"));
  JOBCARBON_TRY(m.unallocated, domains(f, "unallocated_domains_uj"));
  JOBCARBON_TRY(m.cpu_time_us, required_integer(f, "cpu_time_us", 0, kMax));
  JOBCARBON_TRY(m.co2_kg, number(f, "co2_kg", 0, std::numeric_limits<double>::max()));
  JOBCARBON_TRY(m.pue, number(f, "pue", 1, 3));
  JOBCARBON_TRY(m.kg_per_kwh, number(f, "kg_per_kwh", 0, 2));
  return m;
}

void put_key(ojson& out, const JobKey& key) {
  out["cluster"] = key.cluster;
  out["job_id"] = key.job_id;
  out["submit_time_us"] = key.submit_time_us;
  out["step"] = key.step;
}

ojson to_json(const Message& message) {
  ojson out;
  out["v"] = kProtocolVersion;
  out["type"] = type_name(message);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, JobStart>) {
          put_key(out, m.key);
          out["user"] = m.user;
          out["uid"] = m.uid;
          out["account"] = m.account;
          out["gpus"] = m.gpus;
          // Written only when used (a Slurm prolog's registration): the wire stays as it was.
          if (!m.gpu_indices.empty()) out["gpu_indices"] = m.gpu_indices;
          out["cgroup"] = m.cgroup;
          out["pids"] = m.pids;
          out["exclusive"] = m.exclusive;
          out["tags"] = ojson::object();
          for (const auto& [k, v] : m.tags) out["tags"][k] = v;
        } else if constexpr (std::is_same_v<T, JobEnd>) {
          put_key(out, m.key);
          out["exit_code"] = m.exit_code;
          out["end_time_us"] = m.end_time_us;
        } else if constexpr (std::is_same_v<T, Error>) {
          out["code"] = m.code;
          out["message"] = m.message;
        } else if constexpr (std::is_same_v<T, StatusReply>) {
          out["jobs"] = ojson::array();
          for (const auto& job : m.jobs) {
            ojson j;
            put_key(j, job.key);
            j["user"] = job.user;
            j["uid"] = job.uid;
            j["energy_uj"] = job.energy.value;
            j["co2_kg"] = job.co2_kg;
            out["jobs"].push_back(std::move(j));
          }
        } else if constexpr (std::is_same_v<T, JobReport>) {
          put_key(out, m.key);
          if (m.parent) {
            ojson p;
            put_key(p, *m.parent);
            out["parent"] = std::move(p);
          } else {
            out["parent"] = nullptr;
          }
          out["domains_uj"] = domains_json(m.charged);
          out["machine_domains_uj"] = domains_json(m.machine);
          out["unallocated_domains_uj"] = domains_json(m.unallocated);
          out["cpu_time_us"] = m.cpu_time_us;
          out["co2_kg"] = m.co2_kg;
          out["pue"] = m.pue;
          out["kg_per_kwh"] = m.kg_per_kwh;
        }
      },
      message);
  return out;
}

}  // namespace

std::string ProtocolError::message() const {
  return field.empty() ? problem : fmt::format("{}: {}", field, problem);
}

std::string_view type_name(const Message& message) {
  static constexpr std::string_view kNames[] = {"job_start", "job_end",      "status",    "ok",
                                                "error",     "status_reply", "job_report"};
  static_assert(std::size(kNames) == std::variant_size_v<Message>);
  return kNames[message.index()];
}

std::string serialize(const Message& message) {
  return to_json(message).dump(-1, ' ', false, ojson::error_handler_t::replace) + "\n";
}

std::expected<Message, ProtocolError> parse(std::string_view line) {
  if (line.ends_with('\n')) line.remove_suffix(1);
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (line.size() > kMaxMessageBytes) {
    return std::unexpected(ProtocolError{
        "too_long", "", fmt::format("message too long (over {} bytes)", kMaxMessageBytes)});
  }
  // allow_exceptions = false: garbage is an expected input here, not a fatal error.
  const json doc = json::parse(line.begin(), line.end(), nullptr, false);
  if (doc.is_discarded()) {
    return std::unexpected(ProtocolError{"malformed", "", "not valid JSON in UTF-8"});
  }
  if (!doc.is_object()) {
    return std::unexpected(ProtocolError{"malformed", "", "a message must be a JSON object"});
  }
  Fields f(doc, "");
  std::int64_t version = 0;
  JOBCARBON_TRY(version, required_integer(f, "v", std::numeric_limits<std::int64_t>::min(),
                                          std::numeric_limits<std::int64_t>::max()));
  if (version != kProtocolVersion) {
    return std::unexpected(
        ProtocolError{"unsupported_version", "v",
                      fmt::format("unsupported protocol version {} (this agent speaks {})", version,
                                  kProtocolVersion)});
  }
  std::string type;
  JOBCARBON_TRY(type, required_text(f, "type"));
  Result<Message> message = std::unexpected(ProtocolError{});
  if (type == "job_start") {
    message = parse_job_start(f);
  } else if (type == "job_end") {
    message = parse_job_end(f);
  } else if (type == "status") {
    message = StatusRequest{};
  } else if (type == "ok") {
    message = Ok{};
  } else if (type == "error") {
    message = parse_error(f);
  } else if (type == "status_reply") {
    message = parse_status_reply(f);
  } else if (type == "job_report") {
    message = parse_job_report(f);
  } else {
    // Echo short names only: the reply must stay small whatever the client sent.
    const auto shown = type.size() <= 64 ? " " + json(type).dump() : std::string();
    return std::unexpected(
        ProtocolError{"unknown_type", "type", fmt::format("unknown message type{}", shown)});
  }
  if (!message) return message;
  auto others = f.no_others(type);
  if (!others) return std::unexpected(others.error());
  return message;
}

Error to_reply(const ProtocolError& error) {
  return Error{error.code, error.message()};
}

}  // namespace jobcarbon::agent
