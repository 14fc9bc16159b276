#include <jobcarbon/ledger/store.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include <jobcarbon/ledger/pg_store.hpp>
#include <jobcarbon/ledger/sqlite_store.hpp>

namespace jobcarbon::ledger {
namespace {

// Return the scheme of "scheme://..." or "scheme:..." URLs we know, "" for a plain path.
// Only "sqlite:" takes the form without "//", so a file named "a:b" stays a plain path.
std::string_view scheme_of(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0) return {};
  const auto scheme = s.substr(0, colon);
  for (char c : scheme) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '-' || c == '.';
    if (!ok) return {};
  }
  if (scheme == "sqlite" || s.substr(colon).starts_with("://")) return scheme;
  return {};
}

std::optional<std::string> non_empty(const std::optional<std::string>& v) {
  if (v && !v->empty()) return v;
  return std::nullopt;
}

// Create each missing directory of dir with mode 0700 (the XDG spec's mode for data dirs).
std::expected<void, std::string> make_private_dirs(const std::filesystem::path& dir) {
  std::filesystem::path so_far;
  for (const auto& part : dir) {
    so_far /= part;
    std::error_code ec;
    if (std::filesystem::is_directory(so_far, ec)) continue;
    if (::mkdir(so_far.c_str(), 0700) != 0 && errno != EEXIST) {
      return std::unexpected(fmt::format("{}: cannot create the ledger's directory: {}",
                                         so_far.string(), std::strerror(errno)));
    }
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return std::unexpected(fmt::format("{}: not a directory", dir.string()));
  }
  return {};
}

}  // namespace

std::expected<LedgerLocation, std::string> parse_ledger_url(const std::string& url_or_path) {
  const std::string_view s = url_or_path;
  if (s.empty()) return std::unexpected("empty ledger path");
  const std::string_view scheme = scheme_of(s);
  if (scheme.empty()) return LedgerLocation{LedgerLocation::Backend::kSqlite, url_or_path, {}};
  if (scheme == "postgresql" || scheme == "postgres") {
    return LedgerLocation{LedgerLocation::Backend::kPostgresql, {}, url_or_path};
  }
  if (scheme != "sqlite") {
    return std::unexpected(
        fmt::format("ledger '{}': unknown scheme '{}': use a file path, sqlite:////abs/path or "
                    "postgresql://...",
                    url_or_path, scheme));
  }
  // As SQLAlchemy: sqlite:///rel/path (empty host, relative path), sqlite:////abs/path; and the
  // short sqlite:path.
  std::string_view rest = s.substr(scheme.size() + 1);
  if (rest.starts_with("//")) {
    rest.remove_prefix(2);
    if (!rest.starts_with("/")) {
      return std::unexpected(fmt::format(
          "ledger '{}': a SQLite URL names no host: use sqlite:////abs/path or sqlite:///rel/path",
          url_or_path));
    }
    rest.remove_prefix(1);
  }
  if (rest.empty()) return std::unexpected(fmt::format("ledger '{}': no file path", url_or_path));
  return LedgerLocation{LedgerLocation::Backend::kSqlite, std::filesystem::path(rest), {}};
}

std::expected<std::unique_ptr<Store>, std::string> open_store(const std::string& url_or_path,
                                                              OpenMode mode) {
  auto where = parse_ledger_url(url_or_path);
  if (!where) return std::unexpected(where.error());
  if (where->backend == LedgerLocation::Backend::kPostgresql) {
    // libpq is loaded (dlopen) only here: linking it would add ~4 ms to the start of every
    // `jobcarbon run`, whichever ledger it writes to.
    return open_pg_store(where->url, mode);
  }
  return open_sqlite_store(where->path, mode);
}

std::optional<std::string> invalid_field(const JobRecord& r) {
  if (r.cluster.empty()) return "cluster is empty";
  if (r.job_id.empty()) return "job_id is empty";
  if (r.node.empty()) return "node is empty";
  if (r.method != "measured" && r.method != "estimated" && r.method != "mixed") {
    return fmt::format("method is '{}': expected measured, estimated or mixed", r.method);
  }
  if (r.end < r.start) return "end is before start";
  if (r.gpu_count < 0) return "gpu_count is negative";
  if (!(r.cpus >= 0) || r.cpus > 1e9) return "cpus is negative or not a number";
  if (r.work_count && !(*r.work_count >= 0 && *r.work_count < 1e300)) {
    return "work_count is negative or not a finite number";
  }
  if (r.work_count && r.work_unit.empty()) return "work_count has no unit";
  return std::nullopt;
}

std::optional<std::string> invalid_step(const JobRecord& r) {
  if (auto bad = invalid_field(r)) return bad;
  if (r.step.empty()) return "step is empty: a step record names its step (batch, 0, ...)";
  if (r.step == kJobStep) {
    return fmt::format("step is '{}': that is the job's own record, not a step", kJobStep);
  }
  for (const Microjoules e :
       {r.energy.gpu, r.energy.cpu, r.energy.dram, r.energy.node, r.energy.estimated_cpu,
        r.energy.estimated_memory, r.energy_charged, r.machine_energy, r.unallocated_energy}) {
    if (e.value < 0) return "an energy is negative";
  }
  if (!std::isfinite(r.co2_kg)) return "co2_kg is not a finite number";
  if (!std::isfinite(r.intensity_kg_per_kwh)) return "intensity_kg_per_kwh is not a finite number";
  if (!std::isfinite(r.pue)) return "pue is not a finite number";
  return std::nullopt;
}

std::optional<std::string> invalid_running(const RunningRecord& r) {
  if (r.cluster.empty()) return "cluster is empty";
  if (r.job_id.empty()) return "job_id is empty";
  if (r.node.empty()) return "node is empty";
  if (r.updated < r.start) return "updated is before start";
  if (r.energy_charged.value < 0) return "energy_charged is negative";
  if (!(r.co2_kg >= 0)) return "co2_kg is negative or not a number";
  if (r.gpu_count < 0) return "gpu_count is negative";
  return std::nullopt;
}

std::optional<std::string> invalid_idle(const NodeIdle& idle) {
  if (idle.cluster.empty()) return "cluster is empty";
  if (idle.node.empty()) return "node is empty";
  if (idle.end < idle.start) return "end is before start";
  if (idle.energy.value < 0) return "energy is negative";
  return std::nullopt;
}

LedgerEnvironment LedgerEnvironment::from_process() {
  auto get = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  return {get("JOBCARBON_LEDGER"), get("XDG_DATA_HOME"), get("HOME")};
}

std::expected<std::filesystem::path, std::string> default_ledger_path(
    const LedgerEnvironment& env) {
  std::filesystem::path data_home;
  if (auto x = non_empty(env.xdg_data_home); x && std::filesystem::path(*x).is_absolute()) {
    data_home = *x;
  } else if (auto h = non_empty(env.home); h && std::filesystem::path(*h).is_absolute()) {
    data_home = std::filesystem::path(*h) / ".local" / "share";
  } else {
    return std::unexpected(
        "cannot place the ledger: neither XDG_DATA_HOME nor HOME is set to an absolute "
        "directory; give one with --ledger PATH or JOBCARBON_LEDGER");
  }
  const auto dir = data_home / "jobcarbon";
  if (auto made = make_private_dirs(dir); !made) return std::unexpected(made.error());
  return dir / "ledger.db";
}

std::expected<std::filesystem::path, std::string> default_ledger_path() {
  return default_ledger_path(LedgerEnvironment::from_process());
}

std::expected<std::string, std::string> resolve_ledger(const std::optional<std::string>& flag,
                                                       const std::optional<std::string>& config,
                                                       const LedgerEnvironment& env) {
  if (auto f = non_empty(flag)) return *f;
  if (auto e = non_empty(env.jobcarbon_ledger)) return *e;
  if (auto c = non_empty(config)) return *c;
  auto path = default_ledger_path(env);
  if (!path) return std::unexpected(path.error());
  return path->string();
}

}  // namespace jobcarbon::ledger
