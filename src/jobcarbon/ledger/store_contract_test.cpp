// The Store contract, one suite run on both backends (SQLite file, PostgreSQL database): the same
// calls must give the same answers, hand-checked. Each test gets a fresh ledger.
#include <jobcarbon/ledger/store.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <random>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <jobcarbon/ledger/budget_check.hpp>
#include <jobcarbon/ledger/migrations.hpp>
#include <jobcarbon/ledger/pg_test_support.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::ledger {
namespace {

using testing::at_s;
using ::testing::HasSubstr;
using testing::sample_record;

constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kKwh = 3'600'000'000'000;  // µJ
// 2026-01-01T00:00Z is a Thursday (ISO 2026-W01); 2027-01-01 a Friday (ISO 2026-W53);
// 2024-12-30 a Monday (ISO 2025-W01).
constexpr std::int64_t k20260101 = 1'767'225'600;
constexpr std::int64_t k20270101 = 1'798'761'600;
constexpr std::int64_t k20241230 = 1'735'516'800;

enum class Backend { kSqlite, kPostgresql };

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgresql";
}

class StoreContract : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kPostgresql) {
      JOBCARBON_PG_DATABASE_OR_SKIP(pg_);
      url_ = pg_->url();
    } else {
      url_ = (dir_ / "ledger.db").string();
    }
    store_ = open();
  }

  std::unique_ptr<Store> open() {
    auto s = open_store(url_, OpenMode::kReadWrite);
    if (!s) throw std::runtime_error(s.error());
    return std::move(*s);
  }

  // The single integer SQL returns on the ledger (SQL both backends understand).
  std::int64_t raw_int(const std::string& sql) {
    if (pg_) return pg_->raw_int(sql);
    return testing::raw_int(dir_ / "ledger.db", sql);
  }

  // The calendar year (UTC) of jobs.start_us, in the backend's SQL.
  std::string start_year_sql() const {
    return pg_ ? "extract(year FROM to_timestamp(start_us / 1000000) AT TIME ZONE 'UTC')::integer"
               : "CAST(strftime('%Y', start_us / 1000000, 'unixepoch') AS INTEGER)";
  }

  // The calendar year (UTC) of jobs.end_us.
  std::string end_year_sql() const {
    std::string sql = start_year_sql();
    return sql.replace(sql.find("start_us"), 8, "end_us");
  }

  // Rows where usage_totals and the jobs table disagree (energy and job counts exactly, CO2 to
  // 1e-9 kg) over every (account, user) and (account, '') key, plus job counts per start year.
  std::int64_t mismatches() {
    const std::string expected = R"sql(
      SELECT account, user_name AS u, sum(charged_uj) AS e, count(*) AS n, sum(co2_kg) AS c
        FROM jobs WHERE user_name <> '' GROUP BY 1, 2
      UNION ALL SELECT account, '', sum(charged_uj), count(*), sum(co2_kg) FROM jobs GROUP BY 1)sql";
    const std::string actual =
        "SELECT account, user_name AS u, sum(energy_uj) AS e, sum(jobs) AS n, sum(co2_kg) AS c "
        "FROM usage_totals GROUP BY 1, 2";
    const std::string by_year = fmt::format(R"sql(
      SELECT account, user_name, {0} AS y, count(*) AS n FROM jobs WHERE user_name <> ''
        GROUP BY 1, 2, 3
      UNION ALL SELECT account, '', {0}, count(*) FROM jobs GROUP BY 1, 3)sql",
                                            start_year_sql());
    const std::string year_actual =
        "SELECT account, user_name, period_year, jobs FROM usage_totals WHERE jobs > 0";
    const auto count_except = [&](const std::string& a, const std::string& b) {
      return raw_int(
          fmt::format("SELECT count(*) FROM (SELECT * FROM ({}) x EXCEPT SELECT * "
                      "FROM ({}) y) z",
                      a, b));
    };
    const std::string e4 = fmt::format("SELECT account, u, e, n FROM ({}) q", expected);
    const std::string a4 = fmt::format("SELECT account, u, e, n FROM ({}) q", actual);
    return count_except(e4, a4) + count_except(a4, e4) +
           raw_int(fmt::format("SELECT count(*) FROM ({}) x JOIN ({}) y USING (account, u) "
                               "WHERE abs(x.c - y.c) > 1e-9",
                               expected, actual)) +
           count_except(by_year, year_actual) + count_except(year_actual, by_year);
  }

  jobcarbon::testing::TempDir dir_;
  std::unique_ptr<testing::PgTestDatabase> pg_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgresql), backend_name);

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

TEST_P(StoreContract, RoundTripsEveryFieldExactly) {
  JobRecord r = sample_record("4711", at_s(1'767'225'600) + std::chrono::microseconds(123'456));
  r.step = "batch";
  r.exit_code = 137;
  r.energy.estimated_cpu = Microjoules(7);
  r.energy.estimated_memory = Microjoules(9'007'199'254'740'993);  // > 2^53: no double in between
  r.energy_charged = r.energy.total();
  r.command = {"sh", "-c", "echo 'it''s' \"quoted\" \\ back"};
  r.intensity_kg_per_kwh = 0.1 + 0.2;  // 0.30000000000000004: shortest text must round-trip
  r.co2_kg = 1.0 / 3.0;
  ASSERT_EQ(store_->append(r).value(), true);
  JobFilter all;
  all.with_report = true;
  auto back = store_->list_jobs(all);
  ASSERT_TRUE(back) << back.error();
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0], r);
  auto without = store_->list_jobs({});
  ASSERT_TRUE(without) << without.error();
  EXPECT_EQ((*without)[0].report_json, "");
  EXPECT_EQ((*without)[0].tags, r.tags);
}

TEST_P(StoreContract, SameKeyTwiceIsWrittenOnceAndCountedOnce) {
  const JobRecord r = sample_record("1", at_s(k20260101 + kHour));
  EXPECT_EQ(store_->append(r).value(), true);
  JobRecord again = r;
  again.co2_kg = 99;  // a retried write with other numbers changes nothing
  EXPECT_EQ(store_->append(again).value(), false);
  EXPECT_EQ(raw_int("SELECT count(*) FROM jobs"), 1);
  EXPECT_EQ(raw_int("SELECT count(*) FROM job_tags"), 2);
  auto u = store_->usage("vision-lab", "ada", 2026);
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->jobs, 1);
  EXPECT_EQ(u->energy, Microjoules(3'300'000));
  EXPECT_DOUBLE_EQ(u->co2.value, r.co2_kg);
  EXPECT_EQ(store_->usage("vision-lab", "", 2026).value(), *u);
}

TEST_P(StoreContract, EachKeyPartMakesADistinctRecord) {
  const JobRecord base = sample_record("1", at_s(k20260101));
  ASSERT_TRUE(store_->append(base).value());
  JobRecord other = base;
  other.submit_time += std::chrono::seconds(1);  // Slurm reused the id: another job
  EXPECT_EQ(store_->append(other).value(), true);
  other = base;
  other.cluster = "hpc";
  EXPECT_EQ(store_->append(other).value(), true);
  other = base;
  other.step = "0";
  EXPECT_EQ(store_->append(other).value(), true);
  other = base;
  other.node = "gpu-node-02";
  EXPECT_EQ(store_->append(other).value(), true);
  EXPECT_EQ(raw_int("SELECT count(*) FROM jobs"), 5);
  EXPECT_EQ(store_->usage("vision-lab", "ada", 2026).value().jobs, 5);
}

TEST_P(StoreContract, ListsNewestFirstAndFiltersByAccountUserAndLast) {
  const auto add = [&](const char* id, std::int64_t start, const char* account, const char* user) {
    JobRecord r = sample_record(id, at_s(start));
    r.account = account;
    r.user = user;
    ASSERT_TRUE(store_->append(r).value());
  };
  add("a", 1000, "lab", "ada");
  add("b", 3000, "lab", "bob");
  add("c", 2000, "other", "ada");
  add("d", 3000, "lab", "ada");  // same start as b, written later: listed first
  const auto ids = [&](JobFilter f) {
    std::vector<std::string> out;
    auto jobs = store_->list_jobs(f);
    EXPECT_TRUE(jobs) << jobs.error();
    for (const auto& j : *jobs) out.push_back(j.job_id);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}), (V{"d", "b", "c", "a"}));
  EXPECT_EQ(ids({"lab", std::nullopt, std::nullopt, false}), (V{"d", "b", "a"}));
  EXPECT_EQ(ids({std::nullopt, "ada", std::nullopt, false}), (V{"d", "c", "a"}));
  EXPECT_EQ(ids({"lab", "ada", std::nullopt, false}), (V{"d", "a"}));
  EXPECT_EQ(ids({std::nullopt, std::nullopt, 2, false}), (V{"d", "b"}));
  EXPECT_EQ(ids({std::nullopt, std::nullopt, 0, false}), V{});
  EXPECT_EQ(ids({"nobody", std::nullopt, std::nullopt, false}), V{});
}

TEST_P(StoreContract, JobRecordsReturnsEveryRecordOfAnIdInKeyOrder) {
  JobRecord r = sample_record("77", at_s(k20260101));
  const auto add = [&](const char* cluster, std::int64_t submit, const char* node,
                       const char* step) {
    JobRecord x = r;
    x.cluster = cluster;
    x.submit_time = at_s(submit);
    x.node = node;
    x.step = step;
    ASSERT_TRUE(store_->append(x).value());
  };
  add("local", 20, "n2", "0");
  add("local", 20, "n1", "batch");
  add("hpc", 30, "n1", "");
  add("local", 10, "n9", "");
  add("local", 20, "n1", "0");
  ASSERT_TRUE(store_->append(sample_record("78", at_s(k20260101))).value());
  auto recs = store_->job_records("77");
  ASSERT_TRUE(recs) << recs.error();
  std::vector<std::string> got;
  for (const auto& x : *recs) {
    got.push_back(fmt::format("{}/{}/{}/{}", x.cluster, x.submit_time.time_since_epoch().count(),
                              x.node, x.step));
    EXPECT_EQ(x.report_json, r.report_json);
    EXPECT_EQ(x.tags, r.tags);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"hpc/30000000/n1/", "local/10000000/n9/",
                                           "local/20000000/n1/0", "local/20000000/n1/batch",
                                           "local/20000000/n2/0"}));
  EXPECT_TRUE(store_->job_records("nope").value().empty());
}

JobRecord report_record(std::string job, std::string node, std::string account, std::string user,
                        std::int64_t start_s, std::int64_t seconds, int gpus,
                        std::int64_t charged_uj, double pue, double co2, std::int64_t machine_uj,
                        std::int64_t unallocated_uj) {
  JobRecord r = sample_record(job, at_s(start_s));
  r.node = std::move(node);
  r.account = std::move(account);
  r.user = std::move(user);
  r.end = r.start + std::chrono::seconds(seconds);
  r.gpu_count = gpus;
  r.energy = DomainEnergy{Microjoules(charged_uj), {}, {}, {}, {}, {}};
  r.energy_charged = Microjoules(charged_uj);
  r.pue = pue;
  r.co2_kg = co2;
  r.machine_energy = Microjoules(machine_uj);
  r.unallocated_energy = Microjoules(unallocated_uj);
  return r;
}

TEST_P(StoreContract, ReportRowsByEachKeyAreTheHandComputedSums) {
  // As report_test.cpp: j1 on two nodes (1 h, 2 GPUs each), j2 in 2027, j3 in ISO 2025-W01.
  for (const auto& r :
       {report_record("j1", "n1", "a", "ada", k20260101, kHour, 2, kKwh, 1.5, 0.5, 4 * kKwh,
                      kKwh / 2),
        report_record("j1", "n2", "a", "ada", k20260101, kHour, 2, 2 * kKwh, 1.5, 1.0, 3 * kKwh, 0),
        report_record("j2", "n1", "b", "bob", k20270101 + 12 * kHour, kHour / 2, 0, kKwh / 2, 1.0,
                      0.25, kKwh, kKwh / 4),
        report_record("j3", "n1", "a", "bob", k20241230 + 8 * kHour, 2 * kHour, 1, kKwh, 1.2, 0.4,
                      2 * kKwh, kKwh)}) {
    ASSERT_TRUE(store_->append(r).value());
  }
  const auto rows =
      [&](Grouping by, std::optional<Timestamp> since = {}, std::optional<Timestamp> until = {},
          std::optional<std::string> account = {}, std::optional<std::string> user = {}) {
        auto r = store_->report_rows(ReportQuery{by, since, until, account, user, ""});
        EXPECT_TRUE(r) << r.error();
        return r ? *r : std::vector<ReportRow>{};
      };
  const auto keys = [&](Grouping by) {
    std::vector<std::string> out;
    for (const auto& r : rows(by)) out.push_back(r.key);
    return out;
  };
  using V = std::vector<std::string>;
  const auto by_account = rows(Grouping::kAccount);
  ASSERT_EQ(by_account.size(), 2u);
  EXPECT_EQ(by_account[0].key, "a");
  EXPECT_EQ(by_account[0].jobs, 2);
  EXPECT_EQ(by_account[0].records, 3);
  EXPECT_DOUBLE_EQ(by_account[0].gpu_hours, 6);
  EXPECT_EQ(by_account[0].energy_charged, Microjoules(4 * kKwh));
  EXPECT_DOUBLE_EQ(by_account[0].facility_kwh, 1.5 + 3.0 + 1.2);
  EXPECT_EQ(by_account[0].machine_energy, Microjoules(9 * kKwh));
  EXPECT_EQ(by_account[0].unallocated_energy, Microjoules(kKwh * 3 / 2));
  EXPECT_DOUBLE_EQ(by_account[0].co2_kg, 1.9);
  EXPECT_EQ(by_account[0].first_start, at_s(k20241230 + 8 * kHour));
  EXPECT_EQ(by_account[0].last_start, at_s(k20260101));
  EXPECT_FALSE(by_account[0].budget_percent.has_value());
  EXPECT_EQ(by_account[1].key, "b");
  EXPECT_EQ(by_account[1].jobs, 1);
  EXPECT_EQ(by_account[1].energy_charged, Microjoules(kKwh / 2));
  EXPECT_EQ(keys(Grouping::kUser), (V{"ada", "bob"}));
  EXPECT_EQ(keys(Grouping::kNode), (V{"n1", "n2"}));
  EXPECT_EQ(keys(Grouping::kMonth), (V{"2024-12", "2026-01", "2027-01"}));
  EXPECT_EQ(keys(Grouping::kWeek), (V{"2025-W01", "2026-W01", "2026-W53"}));
  const auto by_node = rows(Grouping::kNode);
  EXPECT_EQ(by_node[0].jobs, 3);
  EXPECT_EQ(by_node[0].machine_energy, Microjoules(7 * kKwh));
  EXPECT_EQ(by_node[0].unallocated_energy, Microjoules(kKwh * 7 / 4));
  // Filters: since inclusive, until exclusive, on the start time; account and user.
  const auto in_2026 = rows(Grouping::kAccount, at_s(k20260101), at_s(k20270101 + 12 * kHour));
  ASSERT_EQ(in_2026.size(), 1u);
  EXPECT_EQ(in_2026[0].records, 2);
  const auto bob_in_a = rows(Grouping::kUser, {}, {}, "a", "bob");
  ASSERT_EQ(bob_in_a.size(), 1u);
  EXPECT_EQ(bob_in_a[0].key, "bob");
  EXPECT_EQ(bob_in_a[0].records, 1);
  EXPECT_TRUE(rows(Grouping::kAccount, {}, {}, "nobody").empty());
}

TEST_P(StoreContract, ReportRowsByTagValueAndGpuModel) {
  auto a = sample_record("t1", at_s(k20260101));  // tags project=resnet, stage=train; H100
  auto b = sample_record("t2", at_s(k20260101));
  b.tags = {{"project", "bert"}};
  b.gpu_model = "NVIDIA A100-SXM4-80GB";
  auto c = sample_record("t3", at_s(k20260101));
  c.tags = {};
  c.gpu_count = 0;
  c.gpu_model = "";
  for (const auto& r : {a, b, c}) ASSERT_TRUE(store_->append(r).value());
  ReportQuery q;
  q.by = Grouping::kTag;
  q.tag_key = "project";
  auto rows = store_->report_rows(q);
  ASSERT_TRUE(rows) << rows.error();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].key, "");  // no such tag
  EXPECT_EQ((*rows)[1].key, "bert");
  EXPECT_EQ((*rows)[2].key, "resnet");
  EXPECT_EQ((*rows)[2].energy_charged, a.energy_charged);
  q.tag_key = "stage";
  rows = store_->report_rows(q);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].records, 2);  // b and c have no stage tag
  EXPECT_EQ((*rows)[1].key, "train");
  q = ReportQuery{};
  q.by = Grouping::kGpuModel;
  rows = store_->report_rows(q);
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].key, "");
  EXPECT_EQ((*rows)[1].key, "NVIDIA A100-SXM4-80GB");
  EXPECT_EQ((*rows)[2].key, "NVIDIA H100 80GB HBM3");
  EXPECT_DOUBLE_EQ((*rows)[2].gpu_hours, 90.0 / 3600);
}

// Reports bounded by month starts read the monthly roll-ups; any other bound scans the records.
// Random records (multi-node jobs, three accounts and users, 14 months) give the same rows both
// ways.
TEST_P(StoreContract, RollUpsAndScansGiveTheSameReport) {
  std::mt19937_64 rng(42);
  const std::int64_t t0 = k20260101 - 60 * 86'400;
  for (int j = 0; j < 120; ++j) {
    const int nodes = 1 + static_cast<int>(rng() % 3);
    const std::int64_t start = t0 + static_cast<std::int64_t>(rng() % (420 * 86'400));
    for (int n = 0; n < nodes; ++n) {
      auto r = sample_record("r" + std::to_string(j), at_s(start + n));
      r.node = "n" + std::to_string(n);
      r.account = std::string(1, static_cast<char>('a' + j % 3));
      r.user = std::string(1, static_cast<char>('u' + j % 4));
      r.gpu_count = static_cast<int>(rng() % 5);
      r.end = r.start + std::chrono::seconds(60 + static_cast<std::int64_t>(rng() % 86'400));
      r.energy_charged = Microjoules(static_cast<std::int64_t>(rng() % 10'000'000'000'000));
      r.machine_energy = r.energy_charged + Microjoules(7);
      r.unallocated_energy = Microjoules(static_cast<std::int64_t>(rng() % 1'000'000));
      r.co2_kg = static_cast<double>(rng() % 1000) / 7.0;
      r.pue = 1.0 + static_cast<double>(rng() % 50) / 100.0;
      ASSERT_TRUE(store_->append(r).value());
    }
  }
  for (Grouping by : {Grouping::kAccount, Grouping::kUser, Grouping::kMonth}) {
    ReportQuery rolled{by, at_s(k20260101), at_s(k20270101), std::nullopt, std::nullopt, ""};
    ReportQuery scanned = rolled;
    scanned.since = *rolled.since - std::chrono::microseconds(1);  // no record starts there
    scanned.until = *rolled.until - std::chrono::microseconds(1);
    for (bool filtered : {false, true}) {
      if (filtered) rolled.account = scanned.account = "b";
      const auto a = store_->report_rows(rolled);
      const auto b = store_->report_rows(scanned);
      ASSERT_TRUE(a && b);
      ASSERT_EQ(a->size(), b->size()) << to_string(by);
      ASSERT_FALSE(a->empty());
      for (std::size_t i = 0; i < a->size(); ++i) {
        const auto &x = (*a)[i], &y = (*b)[i];
        EXPECT_EQ(x.key, y.key);
        EXPECT_EQ(x.jobs, y.jobs) << x.key;
        EXPECT_EQ(x.records, y.records);
        EXPECT_EQ(x.energy_charged, y.energy_charged);
        EXPECT_EQ(x.machine_energy, y.machine_energy);
        EXPECT_EQ(x.unallocated_energy, y.unallocated_energy);
        EXPECT_NEAR(x.co2_kg, y.co2_kg, 1e-9 * y.co2_kg);
        EXPECT_NEAR(x.facility_kwh, y.facility_kwh, 1e-9 * y.facility_kwh);
        EXPECT_NEAR(x.gpu_hours, y.gpu_hours, 1e-9 * y.gpu_hours + 1e-12);
        EXPECT_EQ(x.first_start, y.first_start);
        EXPECT_EQ(x.last_start, y.last_start);
      }
    }
  }
}

TEST_P(StoreContract, ReportKeysSortBytewise) {
  // Bytewise (as SQLite): uppercase before lowercase, '_' between them, UTF-8 after ASCII.
  for (const char* account : {"b", "B", "_x", "é", "a b", "a"}) {
    JobRecord r = sample_record(account, at_s(k20260101));
    r.account = account;
    ASSERT_TRUE(store_->append(r).value());
  }
  auto rows = store_->report_rows(ReportQuery{});
  ASSERT_TRUE(rows) << rows.error();
  std::vector<std::string> keys;
  for (const auto& r : *rows) keys.push_back(r.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"B", "_x", "a", "a b", "b", "é"}));
}

TEST_P(StoreContract, BudgetsAreStoredListedReplacedAndAudited) {
  ASSERT_TRUE(store_->set_budget(kg_budget("lab", "", 2026, 1200, policy::Policy::kDeny),
                                 std::nullopt, "alice"));
  BudgetRecord kwh;
  kwh.account = "lab";
  kwh.user = "ada";
  kwh.year = 2026;
  kwh.limit_energy = Microjoules(5 * kKwh);
  kwh.warn_at.basis_points = 9000;
  ASSERT_TRUE(store_->set_budget(kwh, std::nullopt, "alice"));
  ASSERT_TRUE(store_->set_budget(kg_budget("dept", "", 2025, 10), std::nullopt, "alice"));
  // Replaced: same account, user and year.
  ASSERT_TRUE(
      store_->set_budget(kg_budget("lab", "", 2026, 1500, policy::Policy::kStop), "dept", "bob"));
  auto all = store_->list_budgets(std::nullopt, std::nullopt);
  ASSERT_TRUE(all) << all.error();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].account, "dept");  // by year, account, user
  EXPECT_EQ((*all)[1].account, "lab");
  EXPECT_EQ((*all)[1].user, "");
  EXPECT_EQ((*all)[1].limit_kg, KgCo2{1500});
  EXPECT_EQ((*all)[1].policy, policy::Policy::kStop);
  EXPECT_EQ((*all)[1].updated_by, "bob");
  EXPECT_FALSE((*all)[1].updated_at.empty());
  EXPECT_EQ((*all)[2].user, "ada");
  EXPECT_EQ((*all)[2].limit_energy, Microjoules(5 * kKwh));
  EXPECT_FALSE((*all)[2].limit_kg.has_value());
  EXPECT_EQ((*all)[2].warn_at.basis_points, 9000);
  EXPECT_EQ(store_->list_budgets("lab", 2026).value().size(), 2u);
  EXPECT_EQ(store_->list_budgets(std::nullopt, 2025).value().size(), 1u);
  EXPECT_TRUE(store_->list_budgets("lab", 2025).value().empty());
  EXPECT_EQ(store_->account_chain("lab").value(), (std::vector<std::string>{"lab", "dept"}));
  // One audit row per change, the first with no old value.
  EXPECT_EQ(raw_int("SELECT count(*) FROM budget_audit"), 4);
  EXPECT_EQ(raw_int("SELECT count(*) FROM budget_audit WHERE old IS NULL"), 3);
}

TEST_P(StoreContract, InvalidBudgetsAndCyclesAreRefusedWithNothingChanged) {
  ASSERT_TRUE(store_->set_budget(kg_budget("child", "", 2026, 1), "parent", "root"));
  BudgetRecord bad = kg_budget("", "", 2026, 1);
  EXPECT_THAT(store_->set_budget(bad, std::nullopt, "root").error(), HasSubstr("account is empty"));
  bad = kg_budget("x", "", 0, 1);
  EXPECT_THAT(store_->set_budget(bad, std::nullopt, "root").error(), HasSubstr("year 0"));
  bad = kg_budget("x", "", 2026, -5);
  EXPECT_THAT(store_->set_budget(bad, std::nullopt, "root").error(), HasSubstr("limit -5 kg"));
  bad.limit_kg = KgCo2{std::numeric_limits<double>::infinity()};
  EXPECT_THAT(store_->set_budget(bad, std::nullopt, "root").error(), HasSubstr("not a finite"));
  bad = kg_budget("x", "", 2026, 1);
  bad.limit_energy = Microjoules(1);
  EXPECT_THAT(store_->set_budget(bad, std::nullopt, "root").error(), HasSubstr("exactly one"));
  auto cycle = store_->set_budget(kg_budget("parent", "", 2026, 1), "child", "root");
  ASSERT_FALSE(cycle);
  EXPECT_THAT(cycle.error(), HasSubstr("cycle"));
  EXPECT_THAT(store_->set_budget(kg_budget("a", "", 2026, 1), "a", "root").error(),
              HasSubstr("cannot have parent"));
  EXPECT_EQ(raw_int("SELECT count(*) FROM budgets"), 1);
  EXPECT_EQ(raw_int("SELECT count(*) FROM budget_audit"), 1);
  EXPECT_EQ(raw_int("SELECT count(*) FROM account_parents"), 1);
}

TEST_P(StoreContract, ParentUsageIncludesDescendantsAndChecksWalkTheChain) {
  ASSERT_TRUE(store_->set_budget(kg_budget("dept", "", 2026, 10, policy::Policy::kDeny),
                                 std::nullopt, "root"));
  ASSERT_TRUE(
      store_->set_budget(kg_budget("lab", "", 2026, 100, policy::Policy::kDeny), "dept", "root"));
  ASSERT_TRUE(store_->set_budget(kg_budget("team", "", 2026, 100), "lab", "root"));
  const auto add = [&](const char* id, const char* account, double co2) {
    JobRecord r = sample_record(id, at_s(k20260101 + kHour));
    r.account = account;
    r.co2_kg = co2;
    ASSERT_TRUE(store_->append(r).value());
  };
  add("1", "team", 4);
  add("2", "lab", 3);
  add("3", "dept", 2);
  add("4", "elsewhere", 50);
  EXPECT_DOUBLE_EQ(store_->usage("dept", "", 2026).value().co2.value, 9);
  EXPECT_DOUBLE_EQ(store_->usage("lab", "", 2026).value().co2.value, 7);
  EXPECT_DOUBLE_EQ(store_->usage("team", "", 2026).value().co2.value, 4);
  EXPECT_EQ(store_->usage("dept", "", 2026).value().jobs, 3);
  EXPECT_EQ(store_->usage("dept", "ada", 2026).value().jobs, 3);
  EXPECT_EQ(store_->usage("dept", "", 2025).value().jobs, 0);
  EXPECT_EQ(store_->account_chain("team").value(),
            (std::vector<std::string>{"team", "lab", "dept"}));
  EXPECT_EQ(store_->account_chain("nobody").value(), (std::vector<std::string>{"nobody"}));
  // team's own limit allows 2 kg more, but dept (9 of 10 used, deny) does not.
  auto v = check_budget(*store_, "team", "ada", KgCo2{2}, 2026);
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(v->decision, policy::Decision::kDeny);
  EXPECT_EQ(v->account, "dept");
  v = check_budget(*store_, "team", "ada", KgCo2{0.5}, 2026);
  ASSERT_TRUE(v) << v.error();
  EXPECT_NE(v->decision, policy::Decision::kDeny);
}

TEST_P(StoreContract, AJobAcrossNewYearIsSplitExactlyByTime) {
  // 23:00 on Dec 31 to 02:00 on Jan 1: a third of the time in 2025, two thirds in 2026.
  JobRecord r = sample_record("ny", at_s(k20260101 - 3600));
  r.end = at_s(k20260101 + 7200);
  r.energy = DomainEnergy{Microjoules(3'000'000'001), {}, {}, {}, {}, {}};
  r.energy_charged = r.energy.total();
  r.co2_kg = 3.0;
  ASSERT_TRUE(store_->append(r).value());
  const Usage y25 = store_->usage("vision-lab", "ada", 2025).value();
  const Usage y26 = store_->usage("vision-lab", "ada", 2026).value();
  EXPECT_EQ(y25.energy, Microjoules(1'000'000'000));
  EXPECT_EQ(y26.energy, Microjoules(2'000'000'001));
  EXPECT_EQ(y25.jobs, 1);  // counted in the year it started
  EXPECT_EQ(y26.jobs, 0);
  EXPECT_NEAR(y25.co2.value, 1.0, 1e-9);
  EXPECT_NEAR(y26.co2.value, 2.0, 1e-9);
  EXPECT_DOUBLE_EQ(y25.co2.value + y26.co2.value, 3.0);
  EXPECT_EQ(store_->usage("vision-lab", "", 2026).value(), y26);
  EXPECT_EQ(mismatches(), 0) << "per start year the job counts once";
}

TEST_P(StoreContract, TotalsEqualTheJobsAfterRandomAppendsWithDuplicates) {
  std::mt19937_64 rng(20260101);
  const char* accounts[] = {"a", "b", "c"};
  const char* users[] = {"ada", "bob", ""};
  int inserted = 0;
  for (int i = 0; i < 200; ++i) {
    const int id = static_cast<int>(rng() % 100);  // about half are repeats of a key
    JobRecord r = sample_record(std::to_string(id),
                                at_s(k20260101 - 864'000 + static_cast<std::int64_t>(id) * 15'000));
    r.end = r.start + std::chrono::seconds(static_cast<std::int64_t>(id) * 2591 % 259'200);
    r.account = accounts[id % 3];
    r.user = users[(id / 3) % 3];
    r.energy = DomainEnergy{Microjoules(1'000'003LL * id + 7), {}, {}, {}, {}, {}};
    r.energy_charged = r.energy.total();
    r.co2_kg = 0.000123 * id + 0.5;
    auto res = store_->append(r);
    ASSERT_TRUE(res) << res.error();
    inserted += *res ? 1 : 0;
  }
  EXPECT_EQ(raw_int("SELECT count(*) FROM jobs"), inserted);
  EXPECT_LT(inserted, 200);
  EXPECT_GT(raw_int(fmt::format("SELECT count(*) FROM jobs WHERE {} < {}", start_year_sql(),
                                end_year_sql())),
            0);  // some jobs span New Year
  EXPECT_EQ(mismatches(), 0);
}

TEST_P(StoreContract, HostileAccountNamesRoundTripAndDoNoHarm) {
  const std::vector<std::string> names = {"it's",
                                          "a \"quoted\" name",
                                          "  spaces  ",
                                          "Forschungsgruppe Ökologie 森林",
                                          "'; DROP TABLE jobs; --",
                                          "back\\slash",
                                          "{brace,comma}",
                                          "$1"};
  std::int64_t n = 0;
  for (const auto& name : names) {
    ++n;
    JobRecord r = sample_record(std::to_string(n), at_s(k20260101 + n));
    r.account = name;
    r.user = name;
    r.tags = {{name, name}};
    r.command = {name};
    ASSERT_TRUE(store_->append(r).value()) << name;
    ASSERT_TRUE(store_->set_budget(kg_budget(name, name, 2026, 1), std::nullopt, name)) << name;
  }
  ASSERT_TRUE(store_->set_budget(kg_budget(names[0], "", 2026, 1), names[4], "root"));
  for (const auto& name : names) {
    JobFilter f;
    f.account = name;
    auto jobs = store_->list_jobs(f);
    ASSERT_TRUE(jobs) << jobs.error();
    ASSERT_EQ(jobs->size(), 1u) << name;
    EXPECT_EQ((*jobs)[0].account, name);
    EXPECT_EQ((*jobs)[0].user, name);
    EXPECT_EQ((*jobs)[0].tags.at(name), name);
    EXPECT_EQ((*jobs)[0].command, std::vector<std::string>{name});
    auto budgets = store_->list_budgets(name, 2026);
    ASSERT_TRUE(budgets) << budgets.error();
    ASSERT_FALSE(budgets->empty()) << name;
    EXPECT_EQ(budgets->back().user, name);
    EXPECT_EQ(store_->usage(name, name, 2026).value().jobs, 1) << name;
  }
  EXPECT_EQ(store_->account_chain(names[0]).value(),
            (std::vector<std::string>{names[0], names[4]}));
  EXPECT_EQ(raw_int("SELECT count(*) FROM jobs"), static_cast<std::int64_t>(names.size()));
}

TEST_P(StoreContract, InvalidRecordsAreRefusedWithNothingWritten) {
  const JobRecord good = sample_record("1", at_s(k20260101));
  std::vector<std::pair<JobRecord, std::string>> cases;
  JobRecord r = good;
  r.job_id = "";
  cases.emplace_back(r, "job_id is empty");
  r = good;
  r.node = "";
  cases.emplace_back(r, "node is empty");
  r = good;
  r.method = "guessed";
  cases.emplace_back(r, "method is 'guessed'");
  r = good;
  r.end = r.start - std::chrono::seconds(1);
  cases.emplace_back(r, "end is before start");
  r = good;
  r.gpu_count = -1;
  cases.emplace_back(r, "gpu_count is negative");
  for (const auto& [record, why] : cases) {
    auto res = store_->append(record);
    ASSERT_FALSE(res) << why;
    EXPECT_THAT(res.error(), HasSubstr(why));
    EXPECT_THAT(res.error(), HasSubstr(store_->describe()));
  }
  EXPECT_EQ(raw_int("SELECT count(*) FROM jobs"), 0);
  EXPECT_EQ(raw_int("SELECT count(*) FROM usage_totals"), 0);
}

TEST_P(StoreContract, ThirtyTwoProcessesAppendingAndCheckingLoseAndDoubleCountNothing) {
  ASSERT_TRUE(store_->set_budget(kg_budget("lab", "", 2026, 1e6), std::nullopt, "root"));
  store_.reset();                                           // each child opens its own connection
  constexpr int kProcesses = 32, kEach = 40, kStride = 20;  // neighbours share 20 keys
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int bad = 0;
      auto store = open_store(url_, OpenMode::kReadWrite);
      if (!store) _exit(10);
      for (int i = 0; i < kEach; ++i) {
        const int id = p * kStride + i;
        // Around New Year, up to 3 h long: some are split between 2025 and 2026.
        JobRecord r = sample_record(std::to_string(id), at_s(k20260101 - 3600 + id * 60));
        r.end = r.start + std::chrono::seconds(id % 7 * 1800);
        r.account = id % 2 ? "lab" : "other";
        r.user = id % 3 ? "ada" : "bob";
        r.energy = DomainEnergy{Microjoules(1'000'003LL * id + 1), {}, {}, {}, {}, {}};
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
  EXPECT_EQ(raw_int("SELECT count(*) FROM jobs"), (kProcesses - 1) * kStride + kEach);
  EXPECT_EQ(raw_int("SELECT count(*) FROM (SELECT DISTINCT cluster, job_id, submit_us, step, "
                    "node FROM jobs) k"),
            (kProcesses - 1) * kStride + kEach);
  EXPECT_GT(raw_int(fmt::format("SELECT count(*) FROM jobs WHERE {} < {}", start_year_sql(),
                                end_year_sql())),
            0);  // some jobs were split across New Year
  EXPECT_EQ(mismatches(), 0);
}

// Running jobs (migration 0003) behave the same on both backends: provisional usage counted,
// late reports ignored, replaced by the final record, split across New Year; power learned.
TEST_P(StoreContract, RunningJobsAreCountedUntilTheirFinalRecordReplacesThem) {
  constexpr std::int64_t kNewYear2026 = 1'767'225'600;
  const auto r = testing::sample_running("run-1", testing::at_s(kNewYear2026 - 12 * 3600),
                                         std::chrono::seconds(48 * 3600));
  ASSERT_EQ(store_->update_running(r), true);
  auto older = r;
  older.updated = r.start + std::chrono::seconds(60);
  ASSERT_EQ(store_->update_running(older), true);  // stored nothing: older than what is there
  auto listed = store_->list_running({});
  ASSERT_TRUE(listed) << listed.error();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front(), r);
  auto y2025 = store_->running_usage("vision-lab", "", 2025);
  auto y2026 = store_->running_usage("vision-lab", "ada", 2026);
  ASSERT_TRUE(y2025 && y2026);
  EXPECT_EQ(y2025->energy.value, r.energy_charged.value / 4);
  EXPECT_EQ(y2026->energy.value, r.energy_charged.value * 3 / 4);
  EXPECT_EQ(y2025->jobs, 1);

  auto final_record = testing::sample_record("run-1", r.start);
  final_record.cluster = r.cluster;
  final_record.submit_time = r.submit_time;
  final_record.step = r.step;
  final_record.node = r.node;
  ASSERT_EQ(store_->append(final_record), true);
  EXPECT_TRUE(store_->list_running({})->empty());
  EXPECT_EQ(store_->running_usage("vision-lab", "", 2026)->energy.value, 0);
  EXPECT_EQ(store_->update_running(r), false);  // after the final record: refused
  EXPECT_TRUE(store_->list_running({})->empty());
}

TEST_P(StoreContract, TypicalPowerIsLearnedFromFinishedJobs) {
  EXPECT_FALSE(store_->typical_power("")->gpu_watts);
  auto a = testing::sample_record("p-1", testing::at_s(1'777'593'600));
  a.end = a.start + std::chrono::seconds(100);
  a.gpu_count = 2;
  a.cpus = 4;
  a.energy = {Microjoules(60'000'000'000),
              Microjoules(3'000'000'000),
              Microjoules(1'000'000'000),
              Microjoules(0),
              Microjoules(0),
              Microjoules(0)};
  a.energy_charged = a.energy.total();
  ASSERT_EQ(store_->append(a), true);
  ASSERT_EQ(store_->append(a), false);  // a retry teaches nothing
  auto p = store_->typical_power("NVIDIA H100 80GB HBM3");
  ASSERT_TRUE(p) << p.error();
  EXPECT_NEAR(*p->gpu_watts, 300.0, 1e-9);
  EXPECT_NEAR(*p->cpu_watts, 10.0, 1e-9);
  EXPECT_EQ(p->gpu_jobs, 1);
  EXPECT_FALSE(store_->typical_power("Tesla V100")->gpu_watts);
}

// Fiscal years: the year start is the ledger's; changing it rebuilds the running totals, and new
// appends, running jobs and the current year follow it.
TEST_P(StoreContract, FiscalYearsSplitUsageAtTheConfiguredStart) {
  constexpr std::int64_t kApril2026 = 1'775'001'600;  // 2026-04-01T00:00:00Z
  EXPECT_EQ(store_->budget_year_start(), policy::YearStart{});
  // 24 h across March 31 / April 1 (12 h each side), 2.4 MJ.
  auto r = sample_record("fy-1", at_s(kApril2026 - 12 * 3600));
  r.end = r.start + std::chrono::hours(24);
  r.energy_charged = Microjoules(2'400'000'000'000);
  r.co2_kg = 0.2;
  ASSERT_TRUE(store_->append(r).value());
  EXPECT_EQ(store_->usage("vision-lab", "", 2026)->energy, r.energy_charged);  // calendar years

  ASSERT_TRUE(store_->set_budget_year_start({4, 1}));
  EXPECT_EQ(store_->budget_year_start(), (policy::YearStart{4, 1}));
  // Binaries that split by calendar year now refuse the ledger: the floor is raised.
  EXPECT_EQ(raw_int("SELECT max(oldest_compatible) FROM schema_migrations"),
            kFiscalOldestCompatible);
  auto fy2025 = store_->usage("vision-lab", "", 2025);
  auto fy2026 = store_->usage("vision-lab", "ada", 2026);
  ASSERT_TRUE(fy2025 && fy2026);
  EXPECT_EQ(fy2025->energy.value, 1'200'000'000'000);  // before April 1: fiscal 2025
  EXPECT_EQ(fy2026->energy.value, 1'200'000'000'000);
  EXPECT_NEAR(fy2025->co2.value + fy2026->co2.value, 0.2, 1e-12);
  EXPECT_EQ(fy2025->jobs, 1);  // counted where it started
  EXPECT_EQ(fy2026->jobs, 0);

  // A new append and a running job follow the fiscal periods.
  auto r2 = sample_record("fy-2", at_s(kApril2026 - 6 * 3600));
  r2.end = r2.start + std::chrono::hours(12);
  r2.energy_charged = Microjoules(1'200'000'000'000);
  ASSERT_TRUE(store_->append(r2).value());
  EXPECT_EQ(store_->usage("vision-lab", "", 2025)->energy.value, 1'800'000'000'000);
  EXPECT_EQ(store_->usage("vision-lab", "", 2026)->energy.value, 1'800'000'000'000);
  const auto run = testing::sample_running("fy-3", at_s(kApril2026 - 3600), std::chrono::hours(3));
  ASSERT_EQ(store_->update_running(run), true);
  EXPECT_EQ(store_->running_usage("vision-lab", "", 2025)->energy.value,
            run.energy_charged.value / 3);
  EXPECT_EQ(budget_year_now(*store_, policy::WallTime(std::chrono::seconds(kApril2026 - 1))), 2025);
  EXPECT_EQ(budget_year_now(*store_, policy::WallTime(std::chrono::seconds(kApril2026))), 2026);

  // Back to calendar years: everything in 2026 again.
  ASSERT_TRUE(store_->set_budget_year_start({1, 1}));
  EXPECT_EQ(raw_int("SELECT max(oldest_compatible) FROM schema_migrations"), 2);
  EXPECT_EQ(store_->usage("vision-lab", "", 2026)->energy.value, 3'600'000'000'000);
  EXPECT_EQ(store_->usage("vision-lab", "", 2025)->energy.value, 0);
}

// Idle intervals (no job on the node) are stored once per key and reported by node, beside the
// jobs' unallocated energy; a node idle all along has its own row.
TEST_P(StoreContract, IdleEnergyIsReportedByNode) {
  auto r = sample_record("idle-1", at_s(k20260101));  // on gpu-node-01
  ASSERT_TRUE(store_->append(r).value());
  const NodeIdle a{"local", "gpu-node-01", at_s(k20260101 + 3600), at_s(k20260101 + 7200),
                   Microjoules(360'000'000'000)};
  const NodeIdle b{"local", "gpu-node-09", at_s(k20260101), at_s(k20260101 + 3600),
                   Microjoules(180'000'000'000)};
  const NodeIdle old{"local", "gpu-node-09", at_s(k20260101 - 86'400), at_s(k20260101 - 3600),
                     Microjoules(1)};
  EXPECT_EQ(store_->append_idle(a), true);
  EXPECT_EQ(store_->append_idle(a), false);  // a retried write
  EXPECT_EQ(store_->append_idle(b), true);
  EXPECT_EQ(store_->append_idle(old), true);
  auto bad = a;
  bad.end = bad.start - std::chrono::seconds(1);
  EXPECT_FALSE(store_->append_idle(bad));

  ReportQuery q;
  q.by = Grouping::kNode;
  q.since = at_s(k20260101);
  auto rows = store_->report_rows(q);
  ASSERT_TRUE(rows) << rows.error();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].key, "gpu-node-01");
  EXPECT_EQ((*rows)[0].idle_energy, a.energy);
  EXPECT_EQ((*rows)[0].unallocated_energy, r.unallocated_energy);
  EXPECT_EQ((*rows)[1].key, "gpu-node-09");
  EXPECT_EQ((*rows)[1].jobs, 0);
  EXPECT_EQ((*rows)[1].idle_energy, b.energy);  // "old" started before --since
  q.account = "vision-lab";                     // idle energy belongs to no account
  rows = store_->report_rows(q);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].idle_energy, Microjoules(0));
}

// The recent usage behind budget show's projection: finished jobs started in a window, the
// account's descendants included.
TEST_P(StoreContract, UsageBetweenSumsJobsStartedInTheWindow) {
  BudgetRecord child = kg_budget("child", "", 2026, 10);
  ASSERT_TRUE(store_->set_budget(child, std::string("parent"), "admin"));
  for (const auto& [id, account, offset] :
       {std::tuple{"w1", "child", 0}, std::tuple{"w2", "parent", 3600},
        std::tuple{"w3", "child", 86'400}}) {
    auto r = sample_record(id, at_s(k20260101 + offset));
    r.account = account;
    r.co2_kg = 1.0;
    ASSERT_TRUE(store_->append(r).value());
  }
  auto all = store_->usage_between("parent", "", at_s(k20260101), at_s(k20260101 + 86'400));
  ASSERT_TRUE(all) << all.error();
  EXPECT_EQ(all->jobs, 2);  // w1 (child) and w2; w3 starts at the window's end
  EXPECT_DOUBLE_EQ(all->co2.value, 2.0);
  EXPECT_EQ(store_->usage_between("child", "", at_s(k20260101), at_s(k20270101))->jobs, 2);
  EXPECT_EQ(store_->usage_between("child", "bob", at_s(k20260101), at_s(k20270101))->jobs, 0);
}

// Slurm steps (migration 0007): a step record is a share of its job's record on the node, kept
// apart so that it is never counted twice.

// Job "77" as an agent records it: the job's own record (step "job") on one node, 1 h, 1 GPU.
JobRecord job_77(const std::string& node = "gpu-node-01") {
  JobRecord r = sample_record("77", at_s(k20260101 + kHour));
  r.cluster = "hpc";
  r.step = std::string(kJobStep);
  r.node = node;
  r.end = r.start + std::chrono::seconds(kHour);
  r.energy =
      DomainEnergy{Microjoules(720'000'000'000), Microjoules(36'000'000'000), {}, {}, {}, {}};
  r.energy_charged = r.energy.total();
  r.co2_kg = 0.5;
  return r;
}

// A step of job_77 on NODE, starting OFFSET_S after the job and lasting SECONDS, with this share.
JobRecord step_of_77(const std::string& step, std::int64_t offset_s, std::int64_t seconds,
                     std::int64_t gpu_uj, const std::string& node = "gpu-node-01") {
  JobRecord r = job_77(node);
  r.step = step;
  r.start += std::chrono::seconds(offset_s);
  r.end = r.start + std::chrono::seconds(seconds);
  r.exit_code = 3;
  r.energy = DomainEnergy{Microjoules(gpu_uj), Microjoules(1'000'000), {}, {}, {}, {}};
  r.energy_charged = r.energy.total();
  r.co2_kg = 0.125;
  r.tags = {{"step-tag", step}};
  r.report_json = R"({"parent":{"step":"job"}})";
  return r;
}

TEST_P(StoreContract, StepsRoundTripEveryFieldExactly) {
  JobRecord s = step_of_77("batch", 5, 600, 9'007'199'254'740'993);  // > 2^53: exact
  s.command = {"sh", "-c", "echo 'it''s' \"quoted\" \\ back"};
  s.intensity_kg_per_kwh = 0.1 + 0.2;
  s.co2_kg = 1.0 / 3.0;
  s.work_count = 12.5;
  s.work_unit = "images";
  ASSERT_EQ(store_->append_step(s), true);
  auto back = store_->job_steps("77");
  ASSERT_TRUE(back) << back.error();
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0], s);
  EXPECT_EQ(raw_int("SELECT charged_uj FROM job_steps"), s.energy_charged.value);
  EXPECT_EQ(raw_int("SELECT count(*) FROM job_steps WHERE user_name = 'ada' AND exit_code = 3"), 1);
}

TEST_P(StoreContract, AStepIsWrittenOncePerKeyAndListedInOrder) {
  const JobRecord base = step_of_77("0", 100, 60, 1'000);
  EXPECT_EQ(store_->append_step(base), true);
  JobRecord again = base;
  again.energy.gpu = Microjoules(5);  // a retried write with other numbers changes nothing
  again.energy_charged = again.energy.total();
  EXPECT_EQ(store_->append_step(again), false);
  EXPECT_EQ(raw_int("SELECT count(*) FROM job_steps"), 1);
  // Each key part makes another step; the start orders steps within a node.
  EXPECT_EQ(store_->append_step(step_of_77("batch", 0, 900, 2'000)), true);
  EXPECT_EQ(store_->append_step(step_of_77("1", 200, 60, 3'000)), true);
  EXPECT_EQ(store_->append_step(step_of_77("0", 10, 60, 4'000, "gpu-node-02")), true);
  JobRecord other = base;
  other.submit_time += std::chrono::seconds(1);  // Slurm reused the id: another job
  EXPECT_EQ(store_->append_step(other), true);
  other = base;
  other.cluster = "dev";
  EXPECT_EQ(store_->append_step(other), true);
  JobRecord unrelated = base;
  unrelated.job_id = "78";
  EXPECT_EQ(store_->append_step(unrelated), true);
  auto steps = store_->job_steps("77");
  ASSERT_TRUE(steps) << steps.error();
  std::vector<std::string> got;
  for (const auto& x : *steps) {
    got.push_back(
        fmt::format("{}/{}/{}/{}", x.cluster, to_us(x.submit_time) / 1'000'000, x.node, x.step));
  }
  const std::string submit = std::to_string(k20260101 + kHour - 5);
  const std::string later = std::to_string(k20260101 + kHour - 4);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "dev/" + submit + "/gpu-node-01/0", "hpc/" + submit + "/gpu-node-01/batch",
                     "hpc/" + submit + "/gpu-node-01/0", "hpc/" + submit + "/gpu-node-01/1",
                     "hpc/" + submit + "/gpu-node-02/0", "hpc/" + later + "/gpu-node-01/0"}));
  EXPECT_EQ((*steps)[2].energy.gpu, Microjoules(1'000));  // the first write won, whole
  EXPECT_TRUE(store_->job_steps("nope").value().empty());
}

TEST_P(StoreContract, InvalidStepsAreRefusedWithNothingWritten) {
  const JobRecord good = step_of_77("batch", 0, 60, 1);
  std::vector<std::pair<JobRecord, std::string>> cases;
  JobRecord r = good;
  r.step = "";
  cases.emplace_back(r, "step is empty");
  r = good;
  r.step = "job";
  cases.emplace_back(r, "step is 'job': that is the job's own record");
  r = good;
  r.job_id = "";
  cases.emplace_back(r, "job_id is empty");
  r = good;
  r.end = r.start - std::chrono::seconds(1);
  cases.emplace_back(r, "end is before start");
  r = good;
  r.energy.cpu = Microjoules(-1);
  cases.emplace_back(r, "an energy is negative");
  r = good;
  r.co2_kg = std::nan("");
  cases.emplace_back(r, "co2_kg is not a finite number");
  for (const auto& [record, why] : cases) {
    auto res = store_->append_step(record);
    ASSERT_FALSE(res) << why;
    EXPECT_THAT(res.error(), HasSubstr(why));
    EXPECT_THAT(res.error(), HasSubstr(store_->describe()));
  }
  EXPECT_EQ(raw_int("SELECT count(*) FROM job_steps"), 0);
}

// The reason steps have a table of their own: nothing that counts sees them. A job and its steps
// (whose energies, were they counted, would change every figure) give exactly the figures of the
// job alone.
TEST_P(StoreContract, StepsChangeNoBudgetUsageReportPowerOrListing) {
  ASSERT_TRUE(store_->set_budget(kg_budget("vision-lab", "", 2026, 1), std::nullopt, "root"));
  const JobRecord job = job_77();
  ASSERT_EQ(store_->append(job), true);
  ASSERT_EQ(store_->update_running(
                testing::sample_running("run-1", at_s(k20260101), std::chrono::seconds(60))),
            true);
  struct Figures {
    Usage usage, user_usage, between, running;
    std::vector<ReportRow> by_account, by_node, by_user, by_month, by_gpu;
    std::optional<double> gpu_watts, cpu_watts;
    std::int64_t gpu_jobs = 0;
    std::vector<JobRecord> listed, records;
    std::string verdict;
    std::vector<std::int64_t> raw;
  };
  const auto figures = [&] {
    Figures f;
    f.usage = store_->usage("vision-lab", "", 2026).value();
    f.user_usage = store_->usage("vision-lab", "ada", 2026).value();
    f.between = store_->usage_between("vision-lab", "", at_s(k20260101), at_s(k20270101)).value();
    f.running = store_->running_usage("vision-lab", "", 2026).value();
    for (auto [by, out] :
         {std::pair{Grouping::kAccount, &f.by_account}, std::pair{Grouping::kNode, &f.by_node},
          std::pair{Grouping::kUser, &f.by_user}, std::pair{Grouping::kMonth, &f.by_month},
          std::pair{Grouping::kGpuModel, &f.by_gpu}}) {
      ReportQuery q;
      q.by = by;
      *out = store_->report_rows(q).value();
    }
    const auto power = store_->typical_power("").value();
    f.gpu_watts = power.gpu_watts;
    f.cpu_watts = power.cpu_watts;
    f.gpu_jobs = power.gpu_jobs;
    JobFilter all;
    all.with_report = true;
    f.listed = store_->list_jobs(all).value();
    f.records = store_->job_records("77").value();
    const auto verdict = check_budget(*store_, "vision-lab", "ada", KgCo2{0.1}, 2026).value();
    f.verdict = fmt::format("{} {}", static_cast<int>(verdict.decision), verdict.message);
    for (const char* sql :
         {"SELECT count(*) FROM jobs", "SELECT count(*) FROM job_tags",
          "SELECT sum(records) FROM report_totals", "SELECT sum(charged_uj) FROM report_totals",
          "SELECT sum(jobs) FROM power_totals", "SELECT sum(energy_uj) FROM usage_totals",
          "SELECT count(*) FROM running_jobs"}) {
      f.raw.push_back(raw_int(sql));
    }
    return f;
  };
  const Figures before = figures();
  ASSERT_EQ(before.usage.energy, job.energy_charged);
  ASSERT_EQ(before.listed.size(), 1u);
  ASSERT_EQ(before.gpu_jobs, 1);
  // Two steps that used 60 % and 40 % of the job, each long enough to teach power if counted,
  // one on another node (its job record not written yet), and one of the running job.
  ASSERT_EQ(store_->append_step(step_of_77("batch", 0, 3000, 432'000'000'000)), true);
  ASSERT_EQ(store_->append_step(step_of_77("0", 60, 2000, 288'000'000'000)), true);
  ASSERT_EQ(store_->append_step(step_of_77("0", 60, 2000, 288'000'000'000, "gpu-node-02")), true);
  JobRecord running_step = step_of_77("0", 0, 30, 1'000'000);
  running_step.job_id = "run-1";
  ASSERT_EQ(store_->append_step(running_step), true);
  const Figures after = figures();
  EXPECT_EQ(after.usage, before.usage);
  EXPECT_EQ(after.user_usage, before.user_usage);
  EXPECT_EQ(after.between, before.between);
  EXPECT_EQ(after.running, before.running);
  EXPECT_EQ(after.by_account, before.by_account);
  EXPECT_EQ(after.by_node, before.by_node);
  EXPECT_EQ(after.by_user, before.by_user);
  EXPECT_EQ(after.by_month, before.by_month);
  EXPECT_EQ(after.by_gpu, before.by_gpu);
  EXPECT_EQ(after.gpu_watts, before.gpu_watts);
  EXPECT_EQ(after.cpu_watts, before.cpu_watts);
  EXPECT_EQ(after.gpu_jobs, before.gpu_jobs);
  EXPECT_EQ(after.listed, before.listed);
  EXPECT_EQ(after.records, before.records);
  EXPECT_EQ(after.verdict, before.verdict);
  EXPECT_EQ(after.raw, before.raw);
  EXPECT_EQ(store_->list_running({}).value().size(), 1u);  // a step does not end a running job
  EXPECT_EQ(store_->job_steps("77").value().size(), 3u);
  EXPECT_EQ(mismatches(), 0);
}

}  // namespace
}  // namespace jobcarbon::ledger
