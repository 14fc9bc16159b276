// What one round of `jobcarbon enforce` costs on a big cluster (issue #5): B accounts with `stop`
// budgets (half of them over their limit through running jobs' usage) and J queued jobs, on a
// SQLite ledger. Against the raw parts in the same run: reading the budgets' standing alone
// (ledger::budget_status) and parsing squeue's output alone. squeue itself and the scancel calls
// are Slurm's cost, not measured here (a Cluster that answers from memory stands in for them).
// Run: build/bench/enforcer_bench [--benchmark_min_time=0.5]; results: docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <chrono>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include <jobcarbon/enforce/enforcer.hpp>
#include <jobcarbon/enforce/slurm_queue.hpp>
#include <jobcarbon/ledger/budget_check.hpp>
#include <jobcarbon/ledger/sqlite_store.hpp>

namespace {

using namespace jobcarbon;

// Answers from memory; the actions do nothing (the enforcer's state still records them).
class MemoryCluster final : public enforce::Cluster {
 public:
  std::vector<enforce::SlurmJob> queue;
  std::expected<std::vector<enforce::SlurmJob>, std::string> jobs() override { return queue; }
  std::expected<void, std::string> signal(const std::string&, const std::string&) override {
    return {};
  }
  std::expected<void, std::string> cancel(const std::string&) override { return {}; }
  std::expected<void, std::string> hold(const std::string&) override { return {}; }
  std::expected<void, std::string> release(const std::string&) override { return {}; }
};

struct Cluster {
  std::filesystem::path path;
  std::unique_ptr<ledger::Store> store;
  MemoryCluster slurm;
  std::string squeue_text;
};

// B accounts with stop budgets of 1 kg; every other one has a running job over it; J jobs queued.
Cluster& cluster(int budgets, int jobs) {
  static std::map<std::pair<int, int>, std::unique_ptr<Cluster>> made;
  auto& c = made[{budgets, jobs}];
  if (c) return *c;
  c = std::make_unique<Cluster>();
  c->path = std::filesystem::temp_directory_path() /
            fmt::format("enforcer-bench-{}-{}-{}.db", ::getpid(), budgets, jobs);
  std::filesystem::remove(c->path);
  c->store = std::move(*ledger::open_sqlite_store(c->path, ledger::OpenMode::kReadWrite));
  const auto now = std::chrono::system_clock::now();
  const int year = *ledger::budget_year_now(*c->store, now);
  for (int b = 0; b < budgets; ++b) {
    ledger::BudgetRecord r;
    r.account = fmt::format("acct{}", b);
    r.year = year;
    r.limit_kg = KgCo2{1};
    r.policy = policy::Policy::kStop;
    (void)c->store->set_budget(r, std::nullopt, "bench");
    if (b % 2 == 0) {
      ledger::RunningRecord run;
      run.job_id = fmt::format("r{}", b);
      run.submit_time =
          std::chrono::time_point_cast<std::chrono::microseconds>(now - std::chrono::hours(2));
      run.step = "job";
      run.node = "n1";
      run.user = "ada";
      run.account = r.account;
      run.start = run.submit_time;
      run.updated = run.start + std::chrono::hours(1);
      run.energy_charged = Microjoules(int64_t{5} * 3'600'000'000'000);  // 5 kWh
      run.co2_kg = 2;
      (void)c->store->update_running(run);
    }
  }
  for (int j = 0; j < jobs; ++j) {
    enforce::SlurmJob job{
        fmt::format("{}", 1000 + j),
        j % 3 == 0 ? enforce::SlurmJob::State::kPending : enforce::SlurmJob::State::kRunning,
        fmt::format("acct{}", j % (2 * budgets)), "ada", "None"};
    c->squeue_text +=
        fmt::format("{}|{}|{}|{}|{}\n", job.id,
                    job.state == enforce::SlurmJob::State::kPending ? "PENDING" : "RUNNING",
                    job.account, job.user, job.reason);
    c->slurm.queue.push_back(std::move(job));
  }
  return *c;
}

// A steady-state round: the over-budget jobs were signalled in an earlier round.
void BM_run_round(benchmark::State& st) {
  auto& c = cluster(static_cast<int>(st.range(0)), static_cast<int>(st.range(1)));
  enforce::EnforcerState state;
  const enforce::EnforcerOptions options{"USR1", std::chrono::hours(1), false};
  auto log = [](const std::string&) {};
  (void)enforce::run_round(*c.store, c.slurm, state, options, std::chrono::system_clock::now(),
                           log);
  for (auto _ : st) {
    auto r = enforce::run_round(*c.store, c.slurm, state, options, std::chrono::system_clock::now(),
                                log);
    if (!r) st.SkipWithError(r.error().c_str());
  }
  st.counters["signalled"] = static_cast<double>(state.signalled_us.size());
}

void BM_budget_status_alone(benchmark::State& st) {
  auto& c = cluster(static_cast<int>(st.range(0)), static_cast<int>(st.range(1)));
  for (auto _ : st) {
    auto now = std::chrono::system_clock::now();
    auto s =
        ledger::budget_status(*c.store, std::nullopt, *ledger::budget_year_now(*c.store, now), now);
    benchmark::DoNotOptimize(s);
  }
}

void BM_parse_squeue_alone(benchmark::State& st) {
  auto& c = cluster(static_cast<int>(st.range(0)), static_cast<int>(st.range(1)));
  for (auto _ : st) {
    auto q = enforce::parse_squeue(c.squeue_text);
    benchmark::DoNotOptimize(q);
  }
}

}  // namespace

BENCHMARK(BM_run_round)->Args({10, 1000})->Args({300, 20000})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_budget_status_alone)
    ->Args({10, 1000})
    ->Args({300, 20000})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_parse_squeue_alone)
    ->Args({10, 1000})
    ->Args({300, 20000})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
