// jobcarbon report: grouping in SQL checked against hand-computed sums on a four-record ledger,
// date parsing, budget percentages, and the exact table / CSV / JSON text.
#include <jobcarbon/ledger/report_listing.hpp>
#include <jobcarbon/ledger/report_query.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/sqlite_store.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::ledger {
namespace {

using testing::at_s;

constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kKwh = 3'600'000'000'000;  // µJ

JobRecord record(std::string job, std::string node, std::string account, std::string user,
                 std::int64_t start_s, std::int64_t seconds, int gpus, std::int64_t charged_uj,
                 double pue, double co2, std::int64_t machine_uj, std::int64_t unallocated_uj) {
  JobRecord r = testing::sample_record(job, at_s(start_s));
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

// 2026-01-01T00:00Z is a Thursday (ISO 2026-W01); 2027-01-01 a Friday (ISO 2026-W53);
// 2024-12-30 a Monday (ISO 2025-W01).
constexpr std::int64_t k20260101 = 1'767'225'600;
constexpr std::int64_t k20270101 = 1'798'761'600;
constexpr std::int64_t k20241230 = 1'735'516'800;

ReportQuery q(Grouping by, std::optional<Timestamp> since = {}, std::optional<Timestamp> until = {},
              std::optional<std::string> account = {}, std::optional<std::string> user = {}) {
  ReportQuery query;
  query.by = by;
  query.since = since;
  query.until = until;
  query.account = std::move(account);
  query.user = std::move(user);
  return query;
}

class ReportLedger : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = open_sqlite_store(dir_ / "ledger.db", OpenMode::kReadWrite);
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(*s);
    // j1 on two nodes: 1 h, 2 GPUs each; 1 kWh + 2 kWh at PUE 1.5.
    for (const auto& r :
         {record("j1", "n1", "a", "ada", k20260101, kHour, 2, kKwh, 1.5, 0.5, 4 * kKwh, kKwh / 2),
          record("j1", "n2", "a", "ada", k20260101, kHour, 2, 2 * kKwh, 1.5, 1.0, 3 * kKwh, 0),
          record("j2", "n1", "b", "bob", k20270101 + 12 * kHour, kHour / 2, 0, kKwh / 2, 1.0, 0.25,
                 kKwh, kKwh / 4),
          record("j3", "n1", "a", "bob", k20241230 + 8 * kHour, 2 * kHour, 1, kKwh, 1.2, 0.4,
                 2 * kKwh, kKwh)}) {
      auto w = store_->append(r);
      ASSERT_TRUE(w && *w);
    }
  }

  std::vector<ReportRow> rows(ReportQuery q) {
    auto r = store_->report_rows(q);
    EXPECT_TRUE(r) << r.error();
    return r ? *r : std::vector<ReportRow>{};
  }

  std::vector<std::string> keys(Grouping by) {
    std::vector<std::string> out;
    for (const auto& r : rows(q(by))) out.push_back(r.key);
    return out;
  }

  jobcarbon::testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(ReportLedger, ByAccountSumsTheRecordsAndCountsAMultiNodeJobOnce) {
  const auto r = rows(q(Grouping::kAccount));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].key, "a");
  EXPECT_EQ(r[0].jobs, 2);
  EXPECT_EQ(r[0].records, 3);
  EXPECT_DOUBLE_EQ(r[0].gpu_hours, 2 + 2 + 2);  // 2×1 h + 2×1 h + 1×2 h
  EXPECT_EQ(r[0].energy_charged, Microjoules(4 * kKwh));
  EXPECT_DOUBLE_EQ(r[0].facility_kwh, 1.5 + 3.0 + 1.2);
  EXPECT_EQ(r[0].machine_energy, Microjoules(9 * kKwh));
  EXPECT_EQ(r[0].unallocated_energy, Microjoules(kKwh * 3 / 2));
  EXPECT_DOUBLE_EQ(r[0].co2_kg, 1.9);
  EXPECT_EQ(r[0].first_start, at_s(k20241230 + 8 * kHour));
  EXPECT_EQ(r[0].last_start, at_s(k20260101));
  EXPECT_EQ(r[1].key, "b");
  EXPECT_EQ(r[1].jobs, 1);
  EXPECT_DOUBLE_EQ(r[1].gpu_hours, 0);
  EXPECT_EQ(r[1].energy_charged, Microjoules(kKwh / 2));
  EXPECT_DOUBLE_EQ(r[1].co2_kg, 0.25);
}

TEST_F(ReportLedger, GroupsByUserNodeMonthAndIsoWeek) {
  EXPECT_EQ(keys(Grouping::kUser), (std::vector<std::string>{"ada", "bob"}));
  EXPECT_EQ(keys(Grouping::kNode), (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ(keys(Grouping::kMonth), (std::vector<std::string>{"2024-12", "2026-01", "2027-01"}));
  EXPECT_EQ(keys(Grouping::kWeek), (std::vector<std::string>{"2025-W01", "2026-W01", "2026-W53"}));
  const auto by_node = rows(q(Grouping::kNode));
  EXPECT_EQ(by_node[0].jobs, 3);
  EXPECT_EQ(by_node[0].machine_energy, Microjoules(7 * kKwh));  // 4 + 1 + 2
  EXPECT_EQ(by_node[0].unallocated_energy, Microjoules(kKwh * 7 / 4));
  const auto by_user = rows(q(Grouping::kUser));
  EXPECT_EQ(by_user[0].jobs, 1);
  EXPECT_EQ(by_user[0].records, 2);
  EXPECT_EQ(by_user[1].jobs, 2);
  EXPECT_DOUBLE_EQ(by_user[1].co2_kg, 0.65);
}

TEST_F(ReportLedger, FiltersByStartTimeInclusiveExclusiveAndByAccountAndUser) {
  auto r = rows(q(Grouping::kAccount, at_s(k20260101), at_s(k20270101)));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].records, 2);  // j1 starts exactly at since; j2 after until
  r = rows(q(Grouping::kMonth, {}, at_s(k20260101)));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].key, "2024-12");
  r = rows(q(Grouping::kNode, {}, {}, "a", "bob"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].key, "n1");
  EXPECT_DOUBLE_EQ(r[0].co2_kg, 0.4);
}

TEST_F(ReportLedger, BudgetPercentOnlyForRowsWithinOneBudgetedYear) {
  BudgetRecord b;
  b.account = "a";
  b.year = 2026;
  b.limit_kg = KgCo2{10};
  ASSERT_TRUE(store_->set_budget(b, std::nullopt, "root"));
  auto all = rows(q(Grouping::kAccount));
  ASSERT_TRUE(attach_budget_percents(*store_, all));
  EXPECT_FALSE(all[0].budget_percent);  // a's records span 2024 and 2026
  EXPECT_FALSE(all[1].budget_percent);  // b has no budget
  auto year = rows(q(Grouping::kAccount, at_s(k20260101)));
  ASSERT_TRUE(attach_budget_percents(*store_, year));
  ASSERT_TRUE(year[0].budget_percent);
  EXPECT_DOUBLE_EQ(*year[0].budget_percent, 15.0);  // 1.5 kg of 10 kg
}

TEST(ReportDate, ParsesCalendarDaysAndNamesTheFlagOtherwise) {
  EXPECT_EQ(parse_report_date("--since", "2026-01-01"), at_s(k20260101));
  EXPECT_EQ(parse_report_date("--since", "2024-02-29"), at_s(1'709'164'800));
  for (const char* bad :
       {"2025-02-29", "2026-13-01", "2026-1-01", "yesterday", "", "2026-01-0x", "+026-01-01"}) {
    const auto r = parse_report_date("--until", bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error(),
              std::string("--until: '") + bad + "' is not a date: expected YYYY-MM-DD (UTC)");
  }
}

TEST(ReportGrouping, ParsesItsNames) {
  EXPECT_EQ(parse_grouping("week"), Grouping::kWeek);
  EXPECT_EQ(to_string(Grouping::kNode), "node");
  EXPECT_EQ(parse_grouping("gpu-model"), Grouping::kGpuModel);
  EXPECT_FALSE(parse_grouping("project"));
  EXPECT_EQ(parse_report_by("tag:project"), (std::pair{Grouping::kTag, std::string("project")}));
  EXPECT_EQ(parse_report_by("node"), (std::pair{Grouping::kNode, std::string()}));
  EXPECT_EQ(parse_report_by("tag:").error(), "--by tag:KEY: the tag key is empty");
  EXPECT_EQ(parse_report_by("tag").error(),
            "--by 'tag': expected account, user, month, week, node, gpu-model or tag:KEY");
  EXPECT_FALSE(parse_report_by("colour"));
}

std::vector<ReportRow> two_rows() {
  ReportRow a;
  a.key = "ml lab";
  a.jobs = 2;
  a.records = 3;
  a.gpu_hours = 6;
  a.energy_charged = Microjoules(4 * kKwh);
  a.facility_kwh = 5.7;
  a.machine_energy = Microjoules(9 * kKwh);
  a.unallocated_energy = Microjoules(kKwh / 2);
  a.co2_kg = 1.9;
  a.first_start = at_s(k20260101);
  a.last_start = at_s(k20260101 + kHour);
  a.budget_percent = 15;
  ReportRow b;
  b.key = "";
  b.jobs = 1;
  b.records = 1;
  b.energy_charged = Microjoules(kKwh / 2);
  b.facility_kwh = 0.5;
  b.co2_kg = 0.25;
  b.first_start = b.last_start = at_s(k20270101);
  return {a, b};
}

TEST(ReportListing, TableByAccountHasBudgetPercentTotalsAndTheFactorNote) {
  EXPECT_EQ(render_report(two_rows(), Grouping::kAccount, ListingFormat::kTable),
            "ACCOUNT  JOBS  GPU-HOURS     kWh  kg CO2  HOUSEHOLD-DAYS  % BUDGET\n"
            "ml lab      2       6.00  4.0000  1.9000           0.570     15.0%\n"
            "-           1       0.00  0.5000  0.2500           0.050         -\n"
            "TOTAL       3       6.00  4.5000  2.1500           0.620         -\n"
            "household-days: facility kWh (after PUE) / 10 kWh per household per day (the "
            "original study)\n");
  EXPECT_EQ(render_report({}, Grouping::kAccount, ListingFormat::kTable), "");
}

TEST(ReportListing, TableByNodeShowsMachineUnallocatedAndIdleEnergy) {
  auto rows = two_rows();
  rows[0].key = "n1";
  rows[1].key = "n2";
  rows[1].idle_energy = Microjoules(2 * kKwh);
  EXPECT_EQ(
      render_report(rows, Grouping::kNode, ListingFormat::kTable),
      "NODE   JOBS  GPU-HOURS     kWh  kg CO2  HOUSEHOLD-DAYS  MACHINE kWh  UNALLOCATED kWh  "
      "IDLE kWh\n"
      "n1        2       6.00  4.0000  1.9000           0.570       9.0000           0.5000    "
      "0.0000\n"
      "n2        1       0.00  0.5000  0.2500           0.050       0.0000           0.0000    "
      "2.0000\n"
      "TOTAL     -       6.00  4.5000  2.1500           0.620       9.0000           0.5000    "
      "2.0000\n"
      "household-days: facility kWh (after PUE) / 10 kWh per household per day (the "
      "original study)\n");
}

TEST(ReportListing, GpuModelAndTagHeaders) {
  const auto rows = two_rows();
  const auto first_line = [&](Grouping by) {
    const auto t = render_report(rows, by, ListingFormat::kTable, {10, "factor"});
    return t.substr(0, t.find("  "));
  };
  EXPECT_EQ(first_line(Grouping::kGpuModel), "GPU-MODEL");
  EXPECT_EQ(first_line(Grouping::kTag), "TAG");
}

TEST(ReportListing, CsvHasFullPrecisionAndEmptyFieldsForNone) {
  auto rows = two_rows();
  rows[0].key = "ml, \"core\"";
  EXPECT_EQ(render_report(rows, Grouping::kAccount, ListingFormat::kCsv),
            "account,jobs,records,gpu_hours,kwh,facility_kwh,kg_co2,household_days,budget_"
            "percent\n"
            "\"ml, \"\"core\"\"\",2,3,6,4,5.7,1.9,0.5700000000000001,15\n"
            ",1,1,0,0.5,0.5,0.25,0.05,\n");
  EXPECT_EQ(render_report(rows, Grouping::kMonth, ListingFormat::kCsv, HouseholdFactor{5, "x"}),
            "month,jobs,records,gpu_hours,kwh,facility_kwh,kg_co2,household_days\n"
            "\"ml, \"\"core\"\"\",2,3,6,4,5.7,1.9,1.1400000000000001\n"
            ",1,1,0,0.5,0.5,0.25,0.1\n");
}

TEST(ReportListing, JsonHasNumbersAndNullForNoBudget) {
  const auto j =
      nlohmann::json::parse(render_report(two_rows(), Grouping::kAccount, ListingFormat::kJson));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["account"], "ml lab");
  EXPECT_EQ(j[0]["jobs"], 2);
  EXPECT_EQ(j[0]["energy_uj"], 4 * kKwh);
  EXPECT_DOUBLE_EQ(j[0]["energy_kwh"].get<double>(), 4.0);
  EXPECT_DOUBLE_EQ(j[0]["household_days"].get<double>(), 0.57);
  EXPECT_EQ(j[0]["budget_percent"], 15.0);
  EXPECT_EQ(j[0]["first_start"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(j[0]["last_start"], "2026-01-01T01:00:00Z");
  EXPECT_TRUE(j[1]["budget_percent"].is_null());
  EXPECT_FALSE(j[0].contains("machine_kwh"));
  const auto n =
      nlohmann::json::parse(render_report(two_rows(), Grouping::kNode, ListingFormat::kJson));
  EXPECT_EQ(n[0]["node"], "ml lab");
  EXPECT_EQ(n[0]["machine_energy_uj"], 9 * kKwh);
  EXPECT_DOUBLE_EQ(n[0]["unallocated_kwh"].get<double>(), 0.5);
  EXPECT_FALSE(n[0].contains("budget_percent"));
}

}  // namespace
}  // namespace jobcarbon::ledger
