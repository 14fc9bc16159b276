#include <jobcarbon/cli/enforce_command.hpp>

#include <signal.h>
#include <string.h>
#include <time.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <jobcarbon/cli/config_loading.hpp>
#include <jobcarbon/enforce/enforcer.hpp>
#include <jobcarbon/enforce/slurm_queue.hpp>
#include <jobcarbon/ledger/store.hpp>
#include <jobcarbon/os/durable_file.hpp>

namespace jobcarbon::cli {
namespace {

struct EnforceFlags {
  bool once = false;
  double interval_s = 30;
  double grace_s = 300;
  std::string signal = "USR1";
  std::string state = "/var/lib/jobcarbon/enforcer.json";
  bool dry_run = false;
  std::optional<std::string> ledger;
  std::string config;
};

// Return SIG without a leading "SIG", upper-cased, when it names a signal scancel knows; else an
// error naming it.
std::expected<std::string, std::string> signal_name(std::string sig) {
  for (auto& c : sig) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (sig.starts_with("SIG")) sig.erase(0, 3);
  for (int s = 1; s < NSIG; ++s) {
    const char* abbrev = ::sigabbrev_np(s);
    if (abbrev != nullptr && sig == abbrev && s != SIGKILL && s != SIGSTOP) return sig;
  }
  return std::unexpected(
      fmt::format("--signal '{}': not a signal name a job can catch (USR1, USR2, TERM, ...)", sig));
}

void log_line(const std::string& line) {
  fmt::print(stderr, "jobcarbon enforce: {:%FT%TZ} {}\n",
             fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())),
             line);
}

// Read the state file; a missing one is a fresh start, a damaged one is moved aside (and said).
enforce::EnforcerState load_state(const std::filesystem::path& path) {
  auto text = os::read_small_file(path, 16u << 20);
  if (!text) {
    log_line(fmt::format("{}: {}; starting with no jobs signalled or held", path.string(),
                         text.error()));
    return {};
  }
  if (!*text) return {};
  auto state = enforce::parse_state(**text);
  if (state) return *state;
  std::error_code ec;
  std::filesystem::rename(path, path.string() + ".damaged", ec);
  log_line(fmt::format("{}: {}; moved to {}.damaged, starting with no jobs signalled or held",
                       path.string(), state.error(), path.string()));
  return {};
}

// Wait up to SECONDS for SIGTERM/SIGINT (blocked, so they wait here); return true if one came.
bool stop_requested(double seconds) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>((seconds - static_cast<double>(ts.tv_sec)) * 1e9);
  for (;;) {
    const int s = ::sigtimedwait(&set, nullptr, &ts);
    if (s > 0) return true;
    if (errno == EINTR) continue;
    return false;  // EAGAIN: the time is up
  }
}

int enforce(const EnforceFlags& f) {
  auto sig = signal_name(f.signal);
  if (!sig) {
    fmt::print(stderr, "jobcarbon: error: {}\n", sig.error());
    return 2;
  }
  const Settings config = load_settings(f.config);
  auto url =
      ledger::resolve_ledger(f.ledger, config.ledger, ledger::LedgerEnvironment::from_process());
  if (!url) {
    fmt::print(stderr, "jobcarbon: error: {}\n", url.error());
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);

  const enforce::EnforcerOptions options{
      *sig, std::chrono::duration_cast<Duration>(std::chrono::duration<double>(f.grace_s)),
      f.dry_run};
  auto cluster = enforce::slurm_cluster({});
  if (const auto dir = std::filesystem::path(f.state).parent_path(); !dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);  // /var/lib/jobcarbon on a fresh controller
  }
  enforce::EnforcerState state = load_state(f.state);
  if (!f.once) {
    log_line(fmt::format("started: ledger {}, every {:g} s, signal {}, grace {:g} s{}", *url,
                         f.interval_s, *sig, f.grace_s, f.dry_run ? ", dry run" : ""));
  }
  for (;;) {
    const enforce::EnforcerState before = state;
    std::expected<void, std::string> round;
    // Opened each round: a ledger that went down and came back is simply read again.
    auto store = ledger::open_store(*url, ledger::OpenMode::kReadOnly);
    if (!store) {
      round = std::unexpected(store.error());
    } else {
      round = enforce::run_round(**store, *cluster, state, options,
                                 std::chrono::system_clock::now(), log_line);
    }
    if (!round) log_line(fmt::format("nothing done this round: {}", round.error()));
    if (state != before) {
      if (auto w = os::write_file_atomically(f.state, enforce::serialize_state(state)); !w) {
        log_line(fmt::format("cannot save the state: {}", w.error()));
      }
    }
    if (f.once) return round ? 0 : 1;
    if (stop_requested(f.interval_s)) {
      log_line("stopped");
      return 0;
    }
  }
}

}  // namespace

void add_enforce_command(CLI::App& app) {
  auto f = std::make_shared<EnforceFlags>();
  auto* cmd = app.add_subcommand(
      "enforce",
      "Enforce `stop` budgets on a Slurm cluster: checkpoint signal, then cancel after a grace "
      "period, for the running jobs of accounts over their limit; hold their pending jobs "
      "(one enforcer per cluster, on the controller host)");
  cmd->add_flag("--once", f->once, "One round, then exit (0, or 1 when the round failed)");
  cmd->add_option("--interval", f->interval_s, "Seconds between rounds (default 30)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--grace", f->grace_s,
                  "Seconds between the checkpoint signal and the cancel (default 300)")
      ->check(CLI::Range(0.0, 7.0 * 86400));
  cmd->add_option("--signal", f->signal,
                  "The checkpoint signal, sent to the job's batch shell (default USR1)");
  cmd->add_option("--state", f->state,
                  "Where the enforcer remembers signalled and held jobs across restarts "
                  "(default /var/lib/jobcarbon/enforcer.json)");
  cmd->add_flag("--dry-run", f->dry_run, "Log what would be done; signal, cancel, hold nothing");
  cmd->add_option("--ledger", f->ledger, "The ledger (default: the configuration's ledger)");
  cmd->add_option("--config", f->config, "Read this configuration file instead of the defaults");
  cmd->callback([f] {
    const int code = enforce(*f);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace jobcarbon::cli
