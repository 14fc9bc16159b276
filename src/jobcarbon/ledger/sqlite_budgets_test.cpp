// Budgets in the SQLite ledger: running totals kept with each append, the New Year split, the
// 0002 migration's backfill, budgets with their audit trail, hierarchies, decisions, hostile
// names, many processes at once, and who may change budgets.
#include <jobcarbon/ledger/sqlite_budgets.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <jobcarbon/ledger/budget_check.hpp>
#include <jobcarbon/ledger/migrations.hpp>
#include <jobcarbon/ledger/sqlite_store.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/temp_dir.hpp>
#include <jobcarbon/testing/unprivileged.hpp>

namespace jobcarbon::ledger {
namespace {

using testing::at_s;
using testing::raw_exec;
using testing::raw_int;
using testing::raw_text;
using testing::sample_record;

std::unique_ptr<Store> open_rw(const std::filesystem::path& p) {
  auto s = open_sqlite_store(p, OpenMode::kReadWrite);
  if (!s) throw std::runtime_error(s.error());
  return std::move(*s);
}

// 2026-01-01T00:00:00Z.
constexpr std::int64_t kNewYear2026 = 1'767'225'600;

// Rows where usage_totals and the jobs table disagree (energy and job counts exactly, CO2 to
// 1e-9 kg), over every (account, user) and (account, '') key, all years together; plus job counts
// per start year.
std::int64_t mismatches(const std::filesystem::path& p) {
  const std::string expected = R"sql(
    SELECT account, user_name AS u, sum(charged_uj) AS e, count(*) AS n, sum(co2_kg) AS c
      FROM jobs WHERE user_name <> '' GROUP BY 1, 2
    UNION ALL SELECT account, '', sum(charged_uj), count(*), sum(co2_kg) FROM jobs GROUP BY 1)sql";
  const std::string actual =
      "SELECT account, user_name AS u, sum(energy_uj) AS e, sum(jobs) AS n, sum(co2_kg) AS c "
      "FROM usage_totals GROUP BY 1, 2";
  const std::string by_year = R"sql(
    SELECT account, user_name, CAST(strftime('%Y', start_us / 1000000, 'unixepoch') AS INTEGER),
      count(*) FROM jobs WHERE user_name <> '' GROUP BY 1, 2, 3
    UNION ALL SELECT account, '', CAST(strftime('%Y', start_us / 1000000, 'unixepoch') AS INTEGER),
      count(*) FROM jobs GROUP BY 1, 3)sql";
  const std::string year_actual =
      "SELECT account, user_name, period_year, jobs FROM usage_totals WHERE jobs > 0";
  return raw_int(p, fmt::format("SELECT count(*) FROM (SELECT account, u, e, n FROM ({0}) EXCEPT "
                                "SELECT account, u, e, n FROM ({1}))",
                                expected, actual)) +
         raw_int(p, fmt::format("SELECT count(*) FROM (SELECT account, u, e, n FROM ({1}) EXCEPT "
                                "SELECT account, u, e, n FROM ({0}))",
                                expected, actual)) +
         raw_int(p, fmt::format("SELECT count(*) FROM ({0}) x JOIN ({1}) y USING (account, u) "
                                "WHERE abs(x.c - y.c) > 1e-9",
                                expected, actual)) +
         raw_int(p,
                 fmt::format("SELECT count(*) FROM (SELECT * FROM ({}) EXCEPT SELECT * FROM ({}))",
                             by_year, year_actual)) +
         raw_int(p,
                 fmt::format("SELECT count(*) FROM (SELECT * FROM ({}) EXCEPT SELECT * FROM ({}))",
                             year_actual, by_year));
}

BudgetRecord kg_budget(std::string account, std::string user, int year, double kg,
                       policy::Policy pol = policy::Policy::kWarn) {
  BudgetRecord b;
  b.account = std::move(account);
  b.user = std::move(user);
  b.year = year;
  b.limit_kg = KgCo2{kg};
  b.policy = pol;
  return b;
}

TEST(SqliteBudgets, TotalsEqualTheJobsAfterRandomAppendsWithDuplicates) {
  jobcarbon::testing::TempDir dir;
  const auto path = dir / "ledger.db";
  auto store = open_rw(path);
  std::mt19937_64 rng(20260101);
  const char* accounts[] = {"a", "b", "c"};
  const char* users[] = {"ada", "bob", ""};
  int inserted = 0;
  for (int i = 0; i < 600; ++i) {
    const int id = static_cast<int>(rng() % 300);  // about half are repeats of a key
    // Starts within ten days of New Year 2026, up to three days long: some span it.
    JobRecord r = sample_record(
        std::to_string(id), at_s(kNewYear2026 - 864'000 + static_cast<std::int64_t>(id) * 5'000));
    r.end = r.start + std::chrono::seconds(static_cast<std::int64_t>(id) * 863 % 259'200);
    r.account = accounts[id % 3];
    r.user = users[(id / 3) % 3];
    r.energy = DomainEnergy{Microjoules(1'000'003LL * id + 7), {}, {}, {}, {}, {}};
    r.energy_charged = r.energy.total();
    r.co2_kg = 0.000123 * id + 0.5;
    auto res = store->append(r);
    ASSERT_TRUE(res) << res.error();
    inserted += *res ? 1 : 0;
  }
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM jobs"), inserted);
  EXPECT_LT(inserted, 600);  // duplicates happened
  EXPECT_GT(raw_int(path,
                    "SELECT count(*) FROM jobs WHERE strftime('%Y', start_us / 1000000, "
                    "'unixepoch') <> strftime('%Y', end_us / 1000000, 'unixepoch')"),
            0);  // and some jobs span New Year
  EXPECT_EQ(mismatches(path), 0);
}

TEST(SqliteBudgets, AJobAcrossNewYearIsSplitExactlyByTime) {
  jobcarbon::testing::TempDir dir;
  const auto path = dir / "ledger.db";
  auto store = open_rw(path);
  // 23:00 on Dec 31 to 02:00 on Jan 1: a third of the time in 2025, two thirds in 2026.
  JobRecord r = sample_record("ny", at_s(kNewYear2026 - 3600));
  r.end = at_s(kNewYear2026 + 7200);
  r.energy = DomainEnergy{Microjoules(3'000'000'001), {}, {}, {}, {}, {}};
  r.energy_charged = r.energy.total();
  r.co2_kg = 3.0;
  ASSERT_TRUE(store->append(r).value());
  // 3'000'000'001 / 3 = 1'000'000'000.33 → 1'000'000'000 in 2025; the rest in 2026.
  auto y25 = store->usage("vision-lab", "ada", 2025);
  auto y26 = store->usage("vision-lab", "", 2026);
  ASSERT_TRUE(y25 && y26);
  EXPECT_EQ(y25->energy.value, 1'000'000'000);
  EXPECT_EQ(y26->energy.value, 2'000'000'001);
  EXPECT_NEAR(y25->co2.value, 1.0, 1e-9);
  EXPECT_NEAR(y26->co2.value, 2.0, 1e-9);
  EXPECT_EQ(y25->jobs, 1);  // counted in the year it started
  EXPECT_EQ(y26->jobs, 0);
  // A retried write changes nothing.
  EXPECT_FALSE(store->append(r).value());
  EXPECT_EQ(store->usage("vision-lab", "ada", 2026)->energy.value, 2'000'000'001);
}

TEST(SqliteBudgets, MigrationFromVersionOneBackfillsTotals) {
  jobcarbon::testing::TempDir dir;
  const auto path = dir / "v1.db";
  // A ledger as a version-1 jobcarbon left it, with three jobs (one of them a user-less job).
  raw_exec(path, std::string(sqlite_migrations()[0].sql) +
                     fmt::format("; INSERT INTO schema_migrations (version, name, "
                                 "oldest_compatible) VALUES (1, '0001_jobs', 1); PRAGMA "
                                 "user_version = 1; PRAGMA application_id = {}",
                                 kApplicationId));
  const std::string insert =
      "INSERT INTO jobs (cluster, job_id, submit_us, node, user_name, account, start_us, end_us, "
      "exit_code, charged_uj, method, intensity_kg_per_kwh, co2_kg) VALUES ";
  raw_exec(path, insert + fmt::format("('local', '1', 0, 'n', 'ada', 'lab', {0}, {0}, 0, 100, "
                                      "'measured', 0.4, 1.5), ('local', '2', 0, 'n', 'bob', "
                                      "'lab', {0}, {0}, 0, 20, 'measured', 0.4, 0.25), "
                                      "('local', '3', 0, 'n', '', 'lab', {1}, {1}, 0, 3, "
                                      "'measured', 0.4, 0.125)",
                                      (kNewYear2026 + 10) * 1'000'000LL,
                                      (kNewYear2026 - 10) * 1'000'000LL));
  auto store = open_rw(path);
  EXPECT_EQ(store->schema_version(), latest_schema_version());
  EXPECT_EQ(store->usage("lab", "", 2026).value(), (Usage{KgCo2{1.75}, Microjoules(120), 2}));
  EXPECT_EQ(store->usage("lab", "ada", 2026).value(), (Usage{KgCo2{1.5}, Microjoules(100), 1}));
  EXPECT_EQ(store->usage("lab", "", 2025).value(), (Usage{KgCo2{0.125}, Microjoules(3), 1}));
  EXPECT_EQ(mismatches(path), 0);
  // And appends after the migration keep them.
  ASSERT_TRUE(store->append(sample_record("4", at_s(kNewYear2026 + 100))).value());
  EXPECT_EQ(mismatches(path), 0);
}

TEST(SqliteBudgets, SetBudgetAppendsAuditRowsWithOldAndNew) {
  jobcarbon::testing::TempDir dir;
  const auto path = dir / "ledger.db";
  auto store = open_rw(path);
  ASSERT_TRUE(store->set_budget(kg_budget("lab", "", 2026, 1200), std::nullopt, "alice"));
  ASSERT_TRUE(
      store->set_budget(kg_budget("lab", "", 2026, 900, policy::Policy::kDeny), "dept", "bob"));
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM budget_audit"), 2);
  EXPECT_EQ(raw_text(path, "SELECT old FROM budget_audit WHERE id = 1"), "");
  EXPECT_EQ(raw_text(path, "SELECT new FROM budget_audit WHERE id = 1"),
            R"({"limit_kg":1200.0,"limit_uj":null,"policy":"warn","warn_at_bp":8000})");
  EXPECT_EQ(raw_text(path, "SELECT who FROM budget_audit WHERE id = 2"), "bob");
  EXPECT_EQ(raw_text(path, "SELECT old FROM budget_audit WHERE id = 2"),
            R"({"limit_kg":1200.0,"limit_uj":null,"policy":"warn","warn_at_bp":8000})");
  EXPECT_EQ(
      raw_text(path, "SELECT new FROM budget_audit WHERE id = 2"),
      R"({"limit_kg":900.0,"limit_uj":null,"parent":"dept","policy":"deny","warn_at_bp":8000})");
  auto listed = store->list_budgets(std::string("lab"), 2026);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().limit_kg, KgCo2{900});
  EXPECT_EQ(listed->front().policy, policy::Policy::kDeny);
  EXPECT_EQ(listed->front().updated_by, "bob");
  EXPECT_EQ(store->account_chain("lab").value(), (std::vector<std::string>{"lab", "dept"}));
}

TEST(SqliteBudgets, RefusesInvalidBudgetsAndCyclesChangingNothing) {
  jobcarbon::testing::TempDir dir;
  const auto path = dir / "ledger.db";
  auto store = open_rw(path);
  ASSERT_TRUE(store->set_budget(kg_budget("child", "", 2026, 5), "parent", "root"));
  auto cycle = store->set_budget(kg_budget("parent", "", 2026, 5), "child", "root");
  ASSERT_FALSE(cycle);
  EXPECT_NE(cycle.error().find("cycle"), std::string::npos) << cycle.error();
  auto none = kg_budget("x", "", 2026, 1);
  none.limit_kg.reset();
  EXPECT_FALSE(store->set_budget(none, std::nullopt, "root"));
  EXPECT_FALSE(store->set_budget(kg_budget("x", "", 2026, -5), std::nullopt, "root"));
  EXPECT_FALSE(store->set_budget(kg_budget("", "", 2026, 5), std::nullopt, "root"));
  EXPECT_FALSE(store->set_budget(kg_budget("x", "", 0, 5), std::nullopt, "root"));
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM budgets"), 1);
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM budget_audit"), 1);
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM account_parents"), 1);
}

TEST(SqliteBudgets, HostileAccountNamesRoundTripAndDoNoHarm) {
  jobcarbon::testing::TempDir dir;
  const auto path = dir / "ledger.db";
  auto store = open_rw(path);
  const std::vector<std::string> names = {"Robert'); DROP TABLE jobs;--", "a b \"c\"",
                                          "физика-λ 研究", "x' OR '1'='1"};
  for (const auto& n : names) {
    ASSERT_TRUE(store->set_budget(kg_budget(n, n, 2026, 10), "top'--", "root"));
    JobRecord r = sample_record(n, at_s(kNewYear2026 + 10));
    r.account = n;
    r.user = n;
    ASSERT_TRUE(store->append(r).value());
  }
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM jobs"), 4);
  for (const auto& n : names) {
    auto listed = store->list_budgets(n, 2026);
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->size(), 1u) << n;
    EXPECT_EQ(listed->front().account, n);
    EXPECT_EQ(listed->front().user, n);
    EXPECT_EQ(store->usage(n, n, 2026)->jobs, 1) << n;
  }
  EXPECT_EQ(mismatches(path), 0);
}

TEST(SqliteBudgets, ParentUsageIncludesDescendants) {
  jobcarbon::testing::TempDir dir;
  const auto path = dir / "ledger.db";
  auto store = open_rw(path);
  ASSERT_TRUE(store->set_budget(kg_budget("dept", "", 2026, 100), std::nullopt, "root"));
  ASSERT_TRUE(store->set_budget(kg_budget("lab", "", 2026, 10), "dept", "root"));
  ASSERT_TRUE(store->set_budget(kg_budget("team", "", 2026, 5), "lab", "root"));
  int id = 0;
  for (auto [account, kg] : {std::pair{"dept", 1.0}, {"lab", 2.0}, {"team", 4.0}, {"other", 8.0}}) {
    JobRecord r = sample_record(std::to_string(id++), at_s(kNewYear2026 + 10));
    r.account = account;
    r.co2_kg = kg;
    ASSERT_TRUE(store->append(r).value());
  }
  EXPECT_DOUBLE_EQ(store->usage("dept", "", 2026)->co2.value, 7.0);
  EXPECT_DOUBLE_EQ(store->usage("lab", "", 2026)->co2.value, 6.0);
  EXPECT_DOUBLE_EQ(store->usage("team", "", 2026)->co2.value, 4.0);
  EXPECT_DOUBLE_EQ(store->usage("lab", "ada", 2026)->co2.value, 6.0);  // ada ran them all
  EXPECT_EQ(store->usage("lab", "", 2025)->jobs, 0);
}

TEST(SqliteBudgets, CheckDecisionsThroughTheStore) {
  jobcarbon::testing::TempDir dir;
  const auto path = dir / "ledger.db";
  auto store = open_rw(path);
  ASSERT_TRUE(store->set_budget(kg_budget("dept", "", 2026, 10, policy::Policy::kDeny),
                                std::nullopt, "root"));
  ASSERT_TRUE(store->set_budget(kg_budget("lab", "", 2026, 100), "dept", "root"));
  ASSERT_TRUE(store->set_budget(kg_budget("lab", "ada", 2026, 3, policy::Policy::kDeny),
                                std::nullopt, "root"));
  JobRecord r = sample_record("1", at_s(kNewYear2026 + 10));
  r.account = "lab";
  r.co2_kg = 2.0;  // ada's
  ASSERT_TRUE(store->append(r).value());

  auto v = check_budget(*store, "lab", "", KgCo2{1}, 2026);  // dept: 3 of 10
  ASSERT_TRUE(v);
  EXPECT_EQ(v->decision, policy::Decision::kAllow);
  v = check_budget(*store, "lab", "bob", KgCo2{6.5}, 2026);  // dept: 8.5 of 10 → warn
  EXPECT_EQ(v->decision, policy::Decision::kWarn);
  EXPECT_EQ(v->account, "dept");
  v = check_budget(*store, "lab", "", KgCo2{8.5}, 2026);  // dept: 10.5 > 10, deny
  EXPECT_EQ(v->decision, policy::Decision::kDeny);
  EXPECT_DOUBLE_EQ(v->used.value, 2.0);
  EXPECT_EQ(v->limit, KgCo2{10});
  v = check_budget(*store, "lab", "ada", KgCo2{1.5}, 2026);  // ada: 3.5 > 3, deny
  EXPECT_EQ(v->decision, policy::Decision::kDeny);
  EXPECT_EQ(v->account, "lab (user ada)");
  v = check_budget(*store, "lab", "ada", KgCo2{1.5}, 2027);  // no budgets in 2027
  EXPECT_EQ(v->decision, policy::Decision::kAllow);
  EXPECT_FALSE(v->limit.has_value());
}

TEST(SqliteBudgets, EightProcessesAppendingAndCheckingLoseAndDoubleCountNothing) {
  jobcarbon::testing::TempDir dir;
  const auto path = dir / "ledger.db";
  {
    auto store = open_rw(path);
    ASSERT_TRUE(store->set_budget(kg_budget("lab", "", 2026, 1e6), std::nullopt, "root"));
  }
  constexpr int kProcesses = 8, kEach = 60, kStride = 30;  // neighbours share 30 keys
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int bad = 0;
      auto store = open_sqlite_store(path, OpenMode::kReadWrite);
      if (!store) _exit(10);
      for (int i = 0; i < kEach; ++i) {
        const int id = p * kStride + i;
        JobRecord r = sample_record(std::to_string(id), at_s(kNewYear2026 - 3600 + id * 60));
        r.account = id % 2 ? "lab" : "other";
        r.user = id % 3 ? "ada" : "bob";
        r.energy = DomainEnergy{Microjoules(1'000'003LL * id), {}, {}, {}, {}, {}};
        r.energy_charged = r.energy.total();
        r.co2_kg = 0.25 * id;
        if (!(*store)->append(r)) ++bad;
        if (!check_budget(**store, "lab", "ada", KgCo2{1}, 2026)) ++bad;
      }
      _exit(bad == 0 ? 0 : 11);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM jobs"), (kProcesses - 1) * kStride + kEach);
  EXPECT_EQ(mismatches(path), 0);
}

TEST(SqliteBudgets, OnlyTheOwnerOrRootMayChangeBudgets) {
  jobcarbon::testing::TempDir dir("jobcarbon-test-", jobcarbon::testing::TempDir::Access::kAnyone);
  const auto path = dir / "ledger.db";
  {
    auto store = open_rw(path);
    ASSERT_TRUE(store->set_budget(kg_budget("lab", "", 2026, 5), std::nullopt, "root"));
  }
  // Writable by anyone (so the refusal is ours, not the file system's), owned by root.
  ::chmod(dir.path().c_str(), 0777);
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ::chmod(e.path().c_str(), 0666);
  }
  const auto run = jobcarbon::testing::run_unprivileged([&]() -> std::string {
    auto store = open_sqlite_store(path, OpenMode::kReadWrite);
    if (!store) return "open: " + store.error();
    auto r = (*store)->set_budget(kg_budget("lab", "", 2026, 500), std::nullopt, "nobody");
    return r ? "changed" : r.error();
  });
  if (::geteuid() == 0) {
    EXPECT_NE(run.output.find("only the ledger's owner (uid 0) or root may change budgets"),
              std::string::npos)
        << run.output;
  } else {
    EXPECT_EQ(run.output, "changed");  // not root: the child is the owner
  }
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM budget_audit"), ::geteuid() == 0 ? 1 : 2);
  EXPECT_EQ(raw_text(path, "SELECT limit_kg FROM budgets"), ::geteuid() == 0 ? "5.0" : "500.0");
}

}  // namespace
}  // namespace jobcarbon::ledger
