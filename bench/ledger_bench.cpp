// Benchmark: the ledger with a million job records (issue #3). For the ledger at --ledger URL
// (opened with ledger::open_store, so the same program measures every backend):
//   1. fill it with --records realistic job records through Store::append (rows per second);
//      compared, on SQLite, with the same rows inserted by a bare prepared INSERT into a plain
//      table without key, indexes, tags or running totals (one row per transaction as append
//      commits, and 10,000 rows per transaction: the floor);
//      then budgets for every account and running jobs' provisional usage (update_running);
//   2. budget check latency in-process (ledger::check_budget) over thousands of random accounts,
//      users and years; compared, on SQLite, with the same decision computed by summing history;
//   3. a yearly report by account (Store::report_rows), median of --report-runs; compared, on
//      SQLite, with the bare GROUP BY scans a report must at least make.
// A ledger that already holds exactly --records records is measured again without filling when
// --reuse is given. The whole-process `jobcarbon budget check` is bench/ledger_check.sh's.
//
// Usage: ledger_bench --ledger URL [--records N] [--reuse] [--checks N] [--history-checks N]
//                     [--report-runs N] [--fill-only]
//        ledger_bench --smoke            (3,000 records in a temporary directory, seconds)
//        ledger_bench --print-accounts   (the accounts of the benchmark site, one a line)
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <jobcarbon/ledger/budget_check.hpp>
#include <jobcarbon/ledger/store.hpp>

#include "ledger_raw.hpp"
#include "ledger_records.hpp"
#include "ledger_table.hpp"

namespace {

using namespace jobcarbon;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Nanos = std::chrono::nanoseconds;

template <typename T>
T need(std::expected<T, std::string> v) {
  if (!v) throw std::runtime_error(v.error());
  return std::move(*v);
}
void need(std::expected<void, std::string> v) {
  if (!v) throw std::runtime_error(v.error());
}

// The smoke run's temporary directory, removed however main ends (after the Store, which is
// declared later and so closed first).
struct TempDir {
  std::optional<fs::path> path;
  ~TempDir() {
    std::error_code ec;
    if (path) fs::remove_all(*path, ec);
  }
};

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five;
  in >> one >> five;
  return one.empty() ? "unknown" : one + " " + five;
}

ledger::Timestamp new_year(int year) {
  const auto p = policy::period_for_year(year);
  return std::chrono::time_point_cast<std::chrono::microseconds>(p.start);
}

std::int64_t count_records(ledger::Store& store) {
  std::int64_t n = 0;
  for (const auto& row : need(store.report_rows({}))) n += row.records;
  return n;
}

// Budgets for 2025 and 2026: every account (its parent recorded) and every 20th user. Limits
// are set from what was used: 70 % of budgets comfortably above it (1.3–2.5 times), 20 % near it
// (1.0–1.3: warnings), 10 % below it (0.7–1.0: over the limit), so checks allow, warn and deny.
std::size_t set_budgets(ledger::Store& store, const bench::Population& pop) {
  std::mt19937_64 rng(7);
  const auto factor = [&rng] {
    const auto pick = rng() % 10;
    const double lo = pick < 7 ? 1.3 : pick < 9 ? 1.0 : 0.7;
    const double hi = pick < 7 ? 2.5 : pick < 9 ? 1.3 : 1.0;
    return lo + (hi - lo) * static_cast<double>(rng() % 1001) / 1000;
  };
  std::size_t n = 0;
  for (int year : {2025, 2026}) {
    for (const auto& a : pop.accounts) {
      const auto used = need(store.usage(a.name, "", year));
      ledger::BudgetRecord b;
      b.account = a.name;
      b.year = year;
      b.limit_kg = KgCo2{std::max(1.0, std::round(used.co2.value * factor()))};
      b.policy = std::array{policy::Policy::kWarn, policy::Policy::kDeny,
                            policy::Policy::kStop}[rng() % 3];
      std::optional<std::string> parent;
      if (a.parent) parent = pop.accounts[*a.parent].name;
      need(store.set_budget(b, parent, "bench"));
      ++n;
    }
    for (std::size_t u = 0; u < pop.users.size(); u += 20) {
      const auto& account = pop.accounts[pop.user_group[u]].name;
      const auto used = need(store.usage(account, pop.users[u], year));
      ledger::BudgetRecord b;
      b.account = account;
      b.user = pop.users[u];
      b.year = year;
      b.limit_kg = KgCo2{std::max(1.0, std::round(used.co2.value * factor()))};
      need(store.set_budget(b, std::nullopt, "bench"));
      ++n;
    }
  }
  return n;
}

// Running jobs at the end of the span, as the node agents keep them (issue #4): COUNT records of
// jobs half done, so that checks read provisional usage as on a busy cluster. Return how many
// were written.
std::size_t write_running(ledger::Store& store, const bench::Population& pop, std::size_t count) {
  bench::RecordStream stream(pop, count, 99, 9'000'000);  // job ids apart from finished jobs'
  const ledger::Timestamp now = bench::kSpanStart + bench::kSpanLength;
  std::size_t written = 0;
  while (auto r = stream.next()) {
    const auto half = (r->end - r->start) / 2;
    ledger::RunningRecord run;
    run.cluster = r->cluster;
    run.job_id = r->job_id;
    run.start = now - half;
    run.submit_time = run.start - (r->start - r->submit_time);
    run.step = r->step;
    run.node = r->node;
    run.user = r->user;
    run.account = r->account;
    run.updated = now;
    run.energy_charged = Microjoules(r->energy_charged.value / 2);
    run.co2_kg = r->co2_kg / 2;
    run.gpu_count = r->gpu_count;
    run.gpu_model = r->gpu_model;
    written += need(store.update_running(run)) ? 1 : 0;
  }
  return written;
}

struct CheckSpec {
  std::string account, user;
  KgCo2 estimate;
  int year = 0;
};

// Random checks: any account (most are groups), its user in 80 % of calls, 0.1–20 kg, 2025/2026.
std::vector<CheckSpec> check_specs(const bench::Population& pop, std::size_t n) {
  std::mt19937_64 rng(11);
  std::vector<CheckSpec> out;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& a = pop.accounts[rng() % pop.accounts.size()];
    std::string user;
    if (!a.users.empty() && rng() % 10 < 8) user = pop.users[a.users[rng() % a.users.size()]];
    out.push_back({a.name, user, KgCo2{0.1 + static_cast<double>(rng() % 1991) / 100},
                   2025 + static_cast<int>(rng() % 2)});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"The ledger benchmark (docs/benchmarks.md, section Ledger)"};
  std::string url;
  std::size_t records = 1'000'000, checks = 5000, history_checks = 500, report_runs = 5;
  bool reuse = false, smoke = false, fill_only = false, print_accounts = false;
  app.add_option("--ledger", url, "Ledger URL or path (a new SQLite file, or --reuse)");
  auto* records_opt = app.add_option("--records", records, "Job records to write (1,000,000)");
  app.add_flag("--reuse", reuse, "Measure a ledger that already holds --records records");
  app.add_option("--checks", checks, "In-process budget checks (5000)");
  app.add_option("--history-checks", history_checks, "Checks summed from history (500)");
  app.add_option("--report-runs", report_runs, "Runs of each report; the median is shown (5)");
  app.add_flag("--fill-only", fill_only, "Fill (or find) the ledger, measure nothing else");
  app.add_flag("--smoke", smoke, "3,000 records in a temporary ledger: seconds");
  app.add_flag("--print-accounts", print_accounts, "Print the site's accounts and exit");
  CLI11_PARSE(app, argc, argv);

  const bench::Population pop = bench::make_population();
  if (print_accounts) {
    for (const auto& a : pop.accounts) fmt::print("{}\n", a.name);
    return 0;
  }
  TempDir temp_dir;
  if (smoke) {
    if (records_opt->count() == 0) records = 3000;
    checks = std::min<std::size_t>(checks, 500);
    history_checks = std::min<std::size_t>(history_checks, 100);
    report_runs = std::min<std::size_t>(report_runs, 3);
    if (url.empty()) {
      std::string tmpl = (fs::temp_directory_path() / "jobcarbon-ledger-bench.XXXXXX").string();
      if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
      temp_dir.path = tmpl;
      url = (*temp_dir.path / "ledger.db").string();
    }
  }
  if (url.empty()) throw std::runtime_error("--ledger URL is required (or --smoke)");
  const auto location = need(ledger::parse_ledger_url(url));
  const bool sqlite = location.backend == ledger::LedgerLocation::Backend::kSqlite;

  auto store = need(ledger::open_store(url));
  fmt::print("ledger benchmark: {}, {} records; load average at start {}\n", store->describe(),
             records, load_average());
  std::vector<bench::ResultRow> rows;
  const std::int64_t held = count_records(*store);
  const bool fill = held == 0;
  if (!fill && !(reuse && held == static_cast<std::int64_t>(records))) {
    throw std::runtime_error(
        fmt::format("{} holds {} records; use an empty ledger, or --reuse with --records {}",
                    store->describe(), held, held));
  }

  // 1. Fill.
  if (fill) {
    bench::RecordStream stream(pop, records);
    std::vector<Nanos> times;
    times.reserve(records);
    while (auto r = stream.next()) {
      const auto t0 = Clock::now();
      const bool written = need(store->append(*r));
      times.push_back(Clock::now() - t0);
      if (!written) throw std::runtime_error("a generated key repeats: " + r->job_id);
      if (times.size() % 100'000 == 0) fmt::print(stderr, "  {} records written\n", times.size());
    }
    fmt::print("filled: {} records of {} jobs, {} of them in jobs that span New Year\n", records,
               stream.jobs(), stream.spanning_new_year());
    rows.push_back(bench::rate_row("Store::append (1 transaction each, totals kept)", records,
                                   std::move(times), true));
    fmt::print("budgets set: {}\n", set_budgets(*store, pop));
    fmt::print("running job records written: {}\n", write_running(*store, pop, records / 200));
    if (sqlite) {
      const fs::path plain = location.path.string() + ".plain";
      for (std::size_t per : {std::size_t{1}, std::size_t{10'000}}) {
        for (auto suffix : {"", "-wal", "-shm"}) fs::remove(plain.string() + suffix);
        bench::RecordStream again(pop, records);
        auto times = need(bench::raw_insert(plain, again, per));
        rows.push_back(bench::rate_row(per == 1
                                           ? "raw INSERT, plain table, 1 transaction each"
                                           : "raw INSERT, plain table, 10000 rows per transaction",
                                       records, std::move(times), per == 1));
        for (auto suffix : {"", "-wal", "-shm"}) fs::remove(plain.string() + suffix);
      }
    } else {
      fmt::print("raw INSERT comparison: skipped (not a SQLite ledger)\n");
    }
  } else {
    fmt::print("reused: {} already holds {} records; the fill is not measured\n", store->describe(),
               held);
  }
  if (fill_only) {
    bench::print_table(rows);
    return 0;
  }

  // 2. budget check in-process, then the same decisions summed from history.
  const auto specs = check_specs(pop, checks + 100);
  std::vector<policy::Decision> decided;
  std::vector<Nanos> times;
  std::map<std::string, std::size_t> tally;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& s = specs[i];
    const auto t0 = Clock::now();
    const auto v = need(ledger::check_budget(*store, s.account, s.user, s.estimate, s.year));
    const auto t = Clock::now() - t0;
    if (i < 100) continue;  // warm-up
    times.push_back(t);
    decided.push_back(v.decision);
    ++tally[std::string(policy::to_string(v.decision))];
  }
  rows.push_back(bench::latency_row("check_budget, in-process (running totals)", std::move(times)));
  fmt::print("decisions: {} allow, {} warn, {} deny\n", tally["allow"], tally["warn"],
             tally["deny"]);
  if (sqlite) {
    auto history = need(bench::HistoryCheck::open(location.path));
    std::vector<Nanos> sums;
    std::size_t agree = 0, n = std::min(history_checks, decided.size());
    for (std::size_t i = 0; i < n; ++i) {
      const auto& s = specs[100 + i];
      const auto t0 = Clock::now();
      const auto v = need(history.check(s.account, s.user, s.estimate, s.year));
      sums.push_back(Clock::now() - t0);
      agree += v.decision == decided[i] ? 1 : 0;
    }
    rows.push_back(bench::latency_row("same decision summed from history", std::move(sums)));
    fmt::print("history decisions agree with the totals' in {} of {} checks\n", agree, n);
  } else {
    fmt::print("history comparison: skipped (not a SQLite ledger)\n");
  }

  // 3. The yearly report by account, and the bare scans it must at least make.
  const ledger::ReportQuery year_query{
      ledger::Grouping::kAccount, new_year(2025), new_year(2026), std::nullopt, std::nullopt, ""};
  const auto timed_runs = [report_runs](auto&& run) {
    std::vector<Nanos> t;
    for (std::size_t i = 0; i < report_runs; ++i) {
      const auto t0 = Clock::now();
      run();
      t.push_back(Clock::now() - t0);
    }
    return t;
  };
  std::size_t groups = 0;
  rows.push_back(bench::latency_row(
      "report_rows by account, year 2025",
      timed_runs([&] { groups = need(store->report_rows(year_query)).size(); }), false));
  rows.back().rate = fmt::format("{} accounts", groups);
  rows.push_back(
      bench::latency_row("report_rows by account, whole ledger",
                         timed_runs([&] { groups = need(store->report_rows({})).size(); }), false));
  if (sqlite) {
    auto db = need(bench::RawDatabase::open(location.path, true));
    for (bool all : {true, false}) {
      rows.push_back(bench::latency_row(
          all ? "raw GROUP BY account, 2025, all sums but distinct jobs"
              : "raw GROUP BY account, 2025, count and CO2 only",
          timed_runs([&] { need(bench::raw_report(db, new_year(2025), new_year(2026), all)); }),
          false));
    }
  }
  fmt::print("load average at end {}\n\n", load_average());
  bench::print_table(rows);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "ledger_bench: {}\n", e.what());
  return 1;
}
