#include <jobcarbon/cli/budget_command.hpp>

#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/cli/config_loading.hpp>
#include <jobcarbon/cli/submission_estimate.hpp>
#include <jobcarbon/ledger/budget_check.hpp>
#include <jobcarbon/ledger/budget_listing.hpp>
#include <jobcarbon/ledger/store.hpp>
#include <jobcarbon/ledger/usage_split.hpp>
#include <jobcarbon/policy/budget_limit.hpp>
#include <jobcarbon/policy/budget_policy.hpp>
#include <jobcarbon/policy/job_estimate.hpp>

namespace jobcarbon::cli {
namespace {

struct Common {
  std::optional<std::string> ledger;
  std::string config;
};

struct SetFlags : Common {
  std::string account;
  std::string user;
  int year = 0;
  std::optional<std::string> limit;
  std::optional<std::string> limit_kwh;
  std::string policy = "warn";
  std::string warn_at = "80%";
  std::optional<std::string> parent;
};

struct ShowFlags : Common {
  std::optional<std::string> account;
  std::optional<int> year;
  std::string format = "table";
};

struct CheckFlags : Common {
  std::string account;
  std::string user;
  std::optional<std::string> estimate_kg;
  std::optional<std::string> estimate_kwh;  // for energy budgets
  // Or the job's resources, from which the estimate is computed (submission_estimate.hpp).
  std::optional<int> gpus;
  std::optional<double> cpus;
  int nodes = 1;
  std::optional<std::string> time_limit;
  std::string gpu_model;
  Settings carbon;  // --country/--zone/--intensity/--pue over the configuration
  std::optional<int> year;
  bool json = false;
  std::optional<double> timeout_s;  // give up (exit 3) after this long
};

constexpr int kCannotDecide = 3;

// What the SIGALRM handler writes before exiting: prepared before the alarm is armed, because a
// signal handler may only call async-signal-safe functions (write, _exit).
std::string g_timeout_text;

extern "C" void on_check_timeout(int) {
  [[maybe_unused]] const auto n =
      ::write(STDOUT_FILENO, g_timeout_text.data(), g_timeout_text.size());
  ::_exit(kCannotDecide);
}

// Arm a whole-process deadline for `budget check`: a slow or hung ledger (a PostgreSQL server that
// does not answer) must not hold up the scheduler that waits for the decision.
void arm_timeout(const CheckFlags& f) {
  if (!f.timeout_s) return;
  const double t = *f.timeout_s;
  if (!(t > 0 && t <= 3600))
    throw std::runtime_error("--timeout: must be between 0 and 3600 seconds");
  const std::string why = fmt::format("no decision within {} s (--timeout)", t);
  g_timeout_text = f.json ? nlohmann::json{{"decision", "unknown"},
                                           {"message", why},
                                           {"used_kg", nullptr},
                                           {"limit_kg", nullptr},
                                           {"estimate_kg", nullptr}}
                                    .dump() +
                                "\n"
                          : "jobcarbon: cannot decide: " + why + "\n";
  struct sigaction sa {};
  sa.sa_handler = on_check_timeout;
  ::sigaction(SIGALRM, &sa, nullptr);
  itimerval it{};
  it.it_value.tv_sec = static_cast<time_t>(t);
  it.it_value.tv_usec =
      static_cast<suseconds_t>((t - static_cast<double>(it.it_value.tv_sec)) * 1e6);
  ::setitimer(ITIMER_REAL, &it, nullptr);
}

std::expected<std::string, std::string> ledger_url(const Common& c) {
  const Settings config = load_settings(c.config);
  return ledger::resolve_ledger(c.ledger, config.ledger, ledger::LedgerEnvironment::from_process());
}

// The user name recorded as who changed a budget (the uid when it has no name).
std::string caller_name() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  return fmt::format("uid {}", ::geteuid());
}

// Return the budget year that holds now on STORE (calendar, or the site's fiscal years).
int this_year(ledger::Store& store) {
  auto y = ledger::budget_year_now(store, std::chrono::system_clock::now());
  if (!y) throw std::runtime_error(y.error());
  return *y;
}

void set_budget(const SetFlags& f) {
  ledger::BudgetRecord b;
  b.account = f.account;
  b.user = f.user;
  b.year = f.year;
  if (f.limit) {
    auto kg = policy::parse_co2_limit(*f.limit);
    if (!kg) throw std::runtime_error(fmt::format("--limit: {}", kg.error()));
    b.limit_kg = *kg;
  } else if (f.limit_kwh) {
    auto uj = policy::parse_energy_limit(*f.limit_kwh);
    if (!uj) throw std::runtime_error(fmt::format("--limit-kwh: {}", uj.error()));
    b.limit_energy = *uj;
  } else {
    throw std::runtime_error("budget set needs --limit (e.g. 1200kg) or --limit-kwh N");
  }
  auto pol = policy::parse_policy(f.policy);
  if (!pol) throw std::runtime_error(fmt::format("--policy: {}", pol.error()));
  b.policy = *pol;
  auto warn = policy::parse_warn_threshold(f.warn_at);
  if (!warn) throw std::runtime_error(fmt::format("--warn-at: {}", warn.error()));
  b.warn_at = *warn;

  auto url = ledger_url(f);
  if (!url) throw std::runtime_error(url.error());
  auto store = ledger::open_store(*url, ledger::OpenMode::kReadWrite);
  if (!store) throw std::runtime_error(store.error());
  if (auto r = (*store)->set_budget(b, f.parent, caller_name()); !r) {
    throw std::runtime_error(r.error());
  }
  fmt::print("budget for account '{}'{} in {}: {}, policy {}, warn at {}{} ({})\n", b.account,
             b.user.empty() ? "" : fmt::format(", user '{}'", b.user), b.year,
             b.limit_kg ? policy::format_co2_limit(*b.limit_kg)
                        : policy::format_energy_limit(*b.limit_energy),
             policy::to_string(b.policy), policy::format_warn_threshold(b.warn_at),
             f.parent ? fmt::format(", parent '{}'", *f.parent) : "", (*store)->describe());
}

struct YearStartFlags : Common {
  std::optional<std::string> set;  // MM-DD
};

// `budget year-start [MM-DD]`: show the ledger's budget year start, or set it (rebuilding the
// running totals).
void year_start(const YearStartFlags& f) {
  auto url = ledger_url(f);
  if (!url) throw std::runtime_error(url.error());
  std::optional<policy::YearStart> from;
  if (f.set) {
    auto parsed = ledger::parse_year_start(*f.set);
    if (!parsed) throw std::runtime_error(parsed.error());
    from = *parsed;
  }
  auto store =
      ledger::open_store(*url, from ? ledger::OpenMode::kReadWrite : ledger::OpenMode::kReadOnly);
  if (!store) throw std::runtime_error(store.error());
  if (from) {
    if (auto r = (*store)->set_budget_year_start(*from); !r) throw std::runtime_error(r.error());
  }
  auto now = (*store)->budget_year_start();
  if (!now) throw std::runtime_error(now.error());
  const bool calendar = *now == policy::YearStart{};
  fmt::print(
      "budget years start on {}{}{} ({})\n", ledger::format_year_start(*now),
      calendar ? " (calendar years, UTC)" : " at 00:00 UTC; year Y is the one that starts in Y",
      from ? "; running totals rebuilt" : "", (*store)->describe());
}

void show_budgets(const ShowFlags& f) {
  const auto format = *ledger::parse_listing_format(f.format);  // checked by CLI11
  auto url = ledger_url(f);
  if (!url) throw std::runtime_error(url.error());
  auto store = ledger::open_store(*url, ledger::OpenMode::kReadOnly);
  if (!store) throw std::runtime_error(store.error());
  const int year = f.year ? *f.year : this_year(**store);
  auto rows = ledger::budget_status(**store, f.account, year, std::chrono::system_clock::now());
  if (!rows) throw std::runtime_error(rows.error());
  if (rows->empty() && format == ledger::ListingFormat::kTable) {
    fmt::print(stderr, "jobcarbon: no budgets for {} in {}\n",
               f.account ? fmt::format("account '{}'", *f.account) : "any account", year);
  }
  fmt::print("{}", ledger::render_budgets(*rows, format));
}

// Return the exit code; prints the verdict (text or JSON), or why no decision was possible.
int check_budget(const CheckFlags& f) {
  arm_timeout(f);
  const auto cannot_decide = [&f](const std::string& why) {
    if (f.json) {
      fmt::print("{}\n", nlohmann::json{{"decision", "unknown"},
                                        {"message", why},
                                        {"used_kg", nullptr},
                                        {"limit_kg", nullptr},
                                        {"estimate_kg", nullptr}}
                             .dump());
    }
    fmt::print(stderr, "jobcarbon: cannot decide: {}\n", why);
    return kCannotDecide;
  };
  // A bad estimate is "cannot decide" too: exit 2 would read as deny.
  const bool by_resources = f.gpus || f.cpus || f.time_limit;
  const bool by_estimate = f.estimate_kg || f.estimate_kwh;
  if (by_estimate == by_resources) {
    return cannot_decide(
        "give either --estimate-kg X (and/or --estimate-kwh X) or the job's resources (--gpus N "
        "and/or --cpus N, --time-limit T, optionally --nodes N and --gpu-model M), not both");
  }
  // Return the number in TEXT given with FLAG, or why it is not a non-negative number.
  const auto amount = [](const std::optional<std::string>& text, std::string_view flag,
                         std::string_view unit) -> std::expected<double, std::string> {
    if (!text) return 0.0;
    double v = 0;
    const auto* end = text->data() + text->size();
    const auto parsed = std::from_chars(text->data(), end, v);
    if (parsed.ec != std::errc() || parsed.ptr != end || !std::isfinite(v) || v < 0) {
      return std::unexpected(
          fmt::format("{} '{}': expected a non-negative number of {}", flag, *text, unit));
    }
    return v;
  };
  double estimate = 0;
  double estimate_kwh = 0;
  std::optional<policy::JobResources> resources;
  if (by_estimate) {
    auto kg = amount(f.estimate_kg, "--estimate-kg", "kilograms");
    if (!kg) return cannot_decide(kg.error());
    auto kwh = amount(f.estimate_kwh, "--estimate-kwh", "kWh");
    if (!kwh) return cannot_decide(kwh.error());
    estimate = *kg;
    estimate_kwh = *kwh;
  } else {
    if (!f.time_limit) return cannot_decide("--time-limit is needed to estimate from resources");
    auto limit = policy::parse_time_limit(*f.time_limit);
    if (!limit) return cannot_decide(limit.error());
    resources = policy::JobResources{f.gpus.value_or(0), f.cpus.value_or(0), f.nodes, *limit};
  }
  std::expected<std::string, std::string> url;
  try {
    url = ledger_url(f);
  } catch (const std::exception& e) {
    return cannot_decide(e.what());
  }
  if (!url) return cannot_decide(url.error());
  auto store = ledger::open_store(*url, ledger::OpenMode::kReadOnly);
  if (!store) return cannot_decide(store.error());
  std::optional<SubmissionEstimate> computed;
  if (resources) {
    Settings settings;
    try {
      settings = merge(load_settings(f.config), f.carbon);
    } catch (const std::exception& e) {
      return cannot_decide(e.what());
    }
    auto e = estimate_submission(**store, *resources, f.gpu_model, settings,
                                 std::chrono::system_clock::now());
    if (!e) return cannot_decide(e.error());
    computed = std::move(*e);
    estimate = computed->estimate.co2.value;
    estimate_kwh = computed->estimate.kwh;
  }
  auto year = f.year ? std::expected<int, std::string>(*f.year)
                     : ledger::budget_year_now(**store, std::chrono::system_clock::now());
  if (!year) return cannot_decide(year.error());
  auto verdict =
      ledger::check_budget(**store, f.account, f.user, KgCo2{estimate}, *year, "", estimate_kwh);
  if (!verdict) return cannot_decide(verdict.error());
  if (f.json) {
    nlohmann::json j{{"decision", policy::to_string(verdict->decision)},
                     {"message", verdict->message},
                     {"account", verdict->account},
                     {"used_kg", verdict->used.value},
                     {"limit_kg", verdict->limit ? nlohmann::json(verdict->limit->value)
                                                 : nlohmann::json(nullptr)},
                     {"estimate_kg", verdict->estimate.value},
                     {"measure", verdict->energy ? "energy" : "co2"},
                     {"estimate_kwh", verdict->estimate_kwh}};
    if (verdict->energy) {
      j["used_kwh"] = verdict->used_kwh;
      j["limit_kwh"] = *verdict->limit_kwh;
    }
    if (computed) {
      j["estimate"] = {{"kwh", computed->estimate.kwh},
                       {"gpu_watts", computed->power.gpu.watts},
                       {"gpu_basis", computed->power.gpu.basis},
                       {"cpu_watts", computed->power.cpu.watts},
                       {"cpu_basis", computed->power.cpu.basis},
                       {"intensity_kg_per_kwh", computed->intensity_kg_per_kwh},
                       {"pue", computed->pue},
                       {"summary", computed->estimate.summary}};
    }
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("{}: {}\n", policy::to_string(verdict->decision), verdict->message);
    if (computed) fmt::print("estimate: {}\n", computed->estimate.summary);
  }
  return policy::exit_code(verdict->decision);
}

void add_common(CLI::App* cmd, Common& c) {
  cmd->add_option("--ledger", c.ledger,
                  "Ledger path or URL (default $JOBCARBON_LEDGER, else the configuration's "
                  "ledger, else ~/.local/share/jobcarbon/ledger.db)");
  cmd->add_option("--config", c.config, "Read this configuration file instead of the defaults");
}

}  // namespace

void add_budget_command(CLI::App& app, int& exit_code) {
  auto* budget = app.add_subcommand("budget", "Yearly CO2 or energy budgets per account");
  budget->require_subcommand(1);

  auto set = std::make_shared<SetFlags>();
  auto* s = budget->add_subcommand("set", "Set an account's (or a user's) budget for a year");
  add_common(s, *set);
  s->add_option("--account", set->account, "The account (group that pays)")->required();
  s->add_option("--user", set->user, "Only this user within the account");
  s->add_option("--year", set->year, "Budget year (calendar, or the one starting in it)")
      ->required()
      ->check(CLI::Range(1, 9999));
  auto* limit = s->add_option("--limit", set->limit, "CO2 limit: 1200kg, 1.2t, 500 g");
  auto* kwh = s->add_option("--limit-kwh", set->limit_kwh, "Energy limit in kWh (or 2.5 MWh)");
  limit->excludes(kwh);
  s->add_option("--policy", set->policy, "warn (default), deny or stop, once over the limit");
  s->add_option("--warn-at", set->warn_at, "Share of the limit that starts warnings (80%)");
  s->add_option("--parent", set->parent, "Record the account's parent (its limit covers this)");
  s->callback([set]() { set_budget(*set); });

  auto show = std::make_shared<ShowFlags>();
  auto* w = budget->add_subcommand("show", "Limits, usage, remaining and projection");
  add_common(w, *show);
  w->add_option("--account", show->account, "Only this account");
  w->add_option("--year", show->year, "Budget year (default: the current one)");
  w->add_option("--format", show->format, "table (default), csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}));
  w->callback([show]() { show_budgets(*show); });

  auto check = std::make_shared<CheckFlags>();
  auto ys = std::make_shared<YearStartFlags>();
  auto* y = budget->add_subcommand(
      "year-start", "Show or set (MM-DD) when budget years start: 01-01 is calendar years");
  add_common(y, *ys);
  y->add_option("start", ys->set, "MM-DD, e.g. 04-01 (changing it rebuilds the running totals)");
  y->callback([ys]() { year_start(*ys); });

  auto* c = budget->add_subcommand(
      "check", "Decide on a new job: exit 0 allow, 1 warn, 2 deny, 3 cannot decide");
  add_common(c, *check);
  c->add_option("--account", check->account, "The job's account")->required();
  c->add_option("--user", check->user, "The job's user (a per-user budget applies too)");
  c->add_option("--estimate-kg", check->estimate_kg, "The job's estimated CO2 in kg");
  c->add_option("--estimate-kwh", check->estimate_kwh,
                "The job's estimated IT energy in kWh (for energy budgets)");
  c->add_option("--gpus", check->gpus, "GPUs per node the job asks for (instead of --estimate-kg)");
  c->add_option("--cpus", check->cpus, "CPUs per node the job asks for");
  c->add_option("--nodes", check->nodes, "Nodes the job asks for (default 1)");
  c->add_option("--time-limit", check->time_limit,
                "The job's time limit, as Slurm writes it (2-12:00:00, 90, 45m, 12h)");
  c->add_option("--gpu-model", check->gpu_model,
                "GPU model asked for (an NVML name such as 'NVIDIA H100 80GB HBM3')");
  c->add_option("--country", check->carbon.country, "Grid zone by ISO 3166 code (estimate)");
  c->add_option("--zone", check->carbon.zone, "Grid zone id (estimate)");
  c->add_option("--intensity", check->carbon.intensity_kg_per_kwh,
                "Fixed carbon intensity, kg CO2/kWh (estimate)");
  c->add_option("--pue", check->carbon.pue, "PUE of the data centre (estimate)");
  c->add_option("--year", check->year, "Budget year (default: the current one)");
  c->add_flag("--json", check->json, "Print decision, message, used_kg, limit_kg, estimate_kg");
  c->add_option("--timeout", check->timeout_s,
                "Give up after this many seconds: exit 3, 'cannot decide' (for submission hooks)");
  c->callback([check, &exit_code]() { exit_code = check_budget(*check); });
}

}  // namespace jobcarbon::cli
