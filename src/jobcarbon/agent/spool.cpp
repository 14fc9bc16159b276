#include <jobcarbon/agent/spool.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>

#include <sys/stat.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/record_json.hpp>
#include <jobcarbon/os/durable_file.hpp>

namespace jobcarbon::agent {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr std::string_view kJobPrefix = "job-";
constexpr std::string_view kIdlePrefix = "idle-";
constexpr std::string_view kStepPrefix = "step-";
constexpr std::string_view kSuffix = ".json";

// FNV-1a, 64 bits: stable across builds and machines (std::hash is not), so a record put again
// after an agent upgrade lands in the same file. Each field is preceded by its length, so that
// ("ab", "c") and ("a", "bc") differ.
class KeyHash {
 public:
  KeyHash& add(std::string_view field) {
    const std::uint64_t n = field.size();
    for (int i = 0; i < 8; ++i) byte(static_cast<unsigned char>(n >> (8 * i)));
    for (const char c : field) byte(static_cast<unsigned char>(c));
    return *this;
  }
  KeyHash& add(ledger::Timestamp t) { return add(std::to_string(ledger::to_us(t))); }
  std::string hex() const { return fmt::format("{:016x}", h_); }

 private:
  void byte(unsigned char b) {
    h_ ^= b;
    h_ *= 0x100000001b3ULL;
  }
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

auto key_of(const ledger::JobRecord& r) {
  return std::tie(r.cluster, r.job_id, r.submit_time, r.step, r.node);
}
auto key_of(const ledger::NodeIdle& i) {
  return std::tie(i.cluster, i.node, i.start);
}

// A job's file (PREFIX kJobPrefix) or a step's (kStepPrefix): the same key, another table.
std::string file_name(const ledger::JobRecord& r, std::string_view prefix = kJobPrefix) {
  return fmt::format(
      "{}{}{}", prefix,
      KeyHash().add(r.cluster).add(r.job_id).add(r.submit_time).add(r.step).add(r.node).hex(),
      kSuffix);
}
std::string file_name(const ledger::NodeIdle& i) {
  return fmt::format("{}{}{}", kIdlePrefix, KeyHash().add(i.cluster).add(i.node).add(i.start).hex(),
                     kSuffix);
}

bool is_record_file(std::string_view name) {
  return (name.starts_with(kJobPrefix) || name.starts_with(kIdlePrefix) ||
          name.starts_with(kStepPrefix)) &&
         name.ends_with(kSuffix);
}

// Replace bytes that are not UTF-8 rather than fail: the job's energy matters more than a byte
// of its command line.
std::string envelope(std::string_view kind, json record) {
  return json{{"version", kFormatVersion}, {"kind", kind}, {"record", std::move(record)}}.dump(
             -1, ' ', false, json::error_handler_t::replace) +
         "\n";
}

// A spooled record as read back: one of the three kinds.
struct Spooled {
  std::optional<ledger::JobRecord> job;
  std::optional<ledger::NodeIdle> idle;
  std::optional<ledger::JobRecord> step;
};

// Return the record in TEXT, the content of the file NAME, or why it is not one.
std::expected<Spooled, std::string> parse_spooled(std::string_view name, const std::string& text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::unexpected("not JSON");
  if (!j.is_object()) return std::unexpected("not a JSON object");
  const auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() || *version != kFormatVersion) {
    return std::unexpected(fmt::format("version: expected {}", kFormatVersion));
  }
  const auto record = j.find("record");
  if (record == j.end()) return std::unexpected("record: missing");
  const std::string_view want = name.starts_with(kJobPrefix)    ? "job"
                                : name.starts_with(kStepPrefix) ? "step"
                                                                : "idle";
  const auto kind = j.find("kind");
  if (kind == j.end() || !kind->is_string() || kind->get<std::string>() != want) {
    return std::unexpected(fmt::format("kind: expected \"{}\" (from the file name)", want));
  }
  Spooled out;
  if (want == "job" || want == "step") {
    // A job and a step are the same kind of record, kept in different tables.
    const bool step = want == "step";
    auto r = ledger::job_record_from_json(*record);
    if (!r) return std::unexpected("record." + r.error());
    if (auto bad = step ? ledger::invalid_step(*r) : ledger::invalid_field(*r)) {
      return std::unexpected("record: " + *bad);
    }
    if (file_name(*r, step ? kStepPrefix : kJobPrefix) != name) {
      return std::unexpected("the record's key does not match the name");
    }
    (step ? out.step : out.job) = std::move(*r);
  } else {
    auto r = ledger::node_idle_from_json(*record);
    if (!r) return std::unexpected("record." + r.error());
    if (auto bad = ledger::invalid_idle(*r)) return std::unexpected("record: " + *bad);
    if (file_name(*r) != name) return std::unexpected("the record's key does not match the name");
    out.idle = std::move(*r);
  }
  return out;
}

// Return the record file names in DIR, sorted (none when DIR is missing).
std::expected<std::vector<std::string>, std::string> list_records(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return names;
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (is_record_file(name) && it->is_regular_file(ec)) names.push_back(name);
  }
  if (ec) return std::unexpected(fmt::format("{}: {}", dir.string(), ec.message()));
  std::sort(names.begin(), names.end());
  return names;
}

// Create PATH with mode 0700 unless it exists; its parents with the default mode.
std::expected<void, std::string> make_private_dir(const fs::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  if (ec) return std::unexpected(fmt::format("{}: {}", path.parent_path().string(), ec.message()));
  if (::mkdir(path.c_str(), 0700) != 0) {
    if (errno == EEXIST && fs::is_directory(path, ec)) return {};
    return std::unexpected(fmt::format("{}: mkdir: {}", path.string(), std::strerror(errno)));
  }
  // mkdir applies the umask; the mode must not depend on it.
  if (::chmod(path.c_str(), 0700) != 0) {
    return std::unexpected(fmt::format("{}: chmod: {}", path.string(), std::strerror(errno)));
  }
  return {};
}

// Put one record: refuse an invalid one, then refuse to overwrite a different record that
// happens to share the hash (one in 2^64 per pair, but then a record would be lost silently).
template <typename Record>
std::expected<void, std::string> check_before_put(const fs::path& path, const Record& record,
                                                  const std::optional<std::string>& invalid) {
  if (invalid) return std::unexpected(fmt::format("not spooled: {}", *invalid));
  auto existing = os::read_small_file(path, Spool::kMaxFileBytes);
  if (!existing || !existing->has_value()) return {};  // nothing there, or replay will move it
  auto spooled = parse_spooled(path.filename().string(), **existing);
  if (!spooled) return {};  // damaged: replacing it with a good record of the same key is right
  const bool same = [&] {
    if constexpr (std::is_same_v<Record, ledger::JobRecord>) {
      const auto& there = spooled->job ? *spooled->job : *spooled->step;
      return key_of(there) == key_of(record);
    } else {
      return key_of(*spooled->idle) == key_of(record);
    }
  }();
  if (!same) {
    return std::unexpected(fmt::format(
        "{}: holds another record with the same key hash; not replaced", path.string()));
  }
  return {};
}

}  // namespace

Spool::Spool(fs::path dir) : dir_(std::move(dir)) {}

std::expected<void, std::string> Spool::ensure_dir() const {
  return make_private_dir(dir_);
}

std::expected<void, std::string> Spool::write(const std::string& name,
                                              const std::string& text) const {
  if (auto made = ensure_dir(); !made) return made;
  return os::write_file_atomically(dir_ / name, text);
}

std::expected<void, std::string> Spool::put(const ledger::JobRecord& record) {
  const std::string name = file_name(record);
  if (auto ok = check_before_put(dir_ / name, record, ledger::invalid_field(record)); !ok)
    return ok;
  return write(name, envelope("job", ledger::to_json(record)));
}

std::expected<void, std::string> Spool::put_step(const ledger::JobRecord& step) {
  const std::string name = file_name(step, kStepPrefix);
  if (auto ok = check_before_put(dir_ / name, step, ledger::invalid_step(step)); !ok) return ok;
  return write(name, envelope("step", ledger::to_json(step)));
}

std::expected<void, std::string> Spool::put(const ledger::NodeIdle& idle) {
  const std::string name = file_name(idle);
  if (auto ok = check_before_put(dir_ / name, idle, ledger::invalid_idle(idle)); !ok) return ok;
  return write(name, envelope("idle", ledger::to_json(idle)));
}

std::size_t Spool::size() const {
  auto names = list_records(dir_);
  return names ? names->size() : 0;
}

std::expected<std::string, std::string> Spool::move_aside(const std::string& name,
                                                          const std::string& why) const {
  const fs::path corrupt = dir_ / "corrupt";
  if (auto made = make_private_dir(corrupt); !made) return std::unexpected(made.error());
  // Never replace an earlier damaged file of the same name: both may matter.
  fs::path target = corrupt / name;
  std::error_code ec;
  for (int i = 1; fs::exists(target, ec); ++i) target = corrupt / fmt::format("{}.{}", name, i);
  fs::rename(dir_ / name, target, ec);
  if (ec) {
    return std::unexpected(fmt::format("{}: cannot move it to {} ({}): {}", (dir_ / name).string(),
                                       target.string(), why, ec.message()));
  }
  return fmt::format("{}: moved to {}: {}", (dir_ / name).string(), target.string(), why);
}

std::expected<ReplayResult, std::string> Spool::replay(ledger::Store& store) {
  auto names = list_records(dir_);
  if (!names) return std::unexpected(names.error());
  ReplayResult result;
  for (std::size_t i = 0; i < names->size(); ++i) {
    const std::string& name = (*names)[i];
    const fs::path path = dir_ / name;
    auto text = os::read_small_file(path, kMaxFileBytes);
    if (text && !text->has_value()) continue;  // gone since the listing
    auto spooled = text ? parse_spooled(name, **text)
                        : std::expected<Spooled, std::string>(std::unexpect, text.error());
    if (!spooled) {
      auto moved = move_aside(name, spooled.error());
      if (!moved) return std::unexpected(moved.error());
      result.corrupt.push_back(std::move(*moved));
      continue;
    }
    auto taken = spooled->job    ? store.append(*spooled->job)
                 : spooled->step ? store.append_step(*spooled->step)
                                 : store.append_idle(*spooled->idle);
    if (!taken) {
      // The ledger is down (put refused what it would reject): keep this one and the rest.
      result.last_error = std::move(taken.error());
      result.remaining = static_cast<int>(names->size() - i);
      break;
    }
    ++(*taken ? result.appended : result.duplicates);
    // No fsync of the directory: should the deletion be lost in a crash, the next replay finds
    // the record in the ledger already and counts it as a duplicate.
    std::error_code ec;
    if (!fs::remove(path, ec) && ec) {
      return std::unexpected(
          fmt::format("{}: replayed, but cannot delete it: {}", path.string(), ec.message()));
    }
  }
  return result;
}

}  // namespace jobcarbon::agent
