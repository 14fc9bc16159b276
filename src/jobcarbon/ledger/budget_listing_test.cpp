// Budget standing (budget_status) and how `budget show` prints it (render_budgets).
#include <jobcarbon/ledger/budget_listing.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <jobcarbon/ledger/sqlite_store.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::ledger {
namespace {

using testing::at_s;

constexpr std::int64_t kNewYear2026 = 1'767'225'600;

std::vector<BudgetStatus> standing_at(std::int64_t now_s, int year) {
  jobcarbon::testing::TempDir dir;
  auto store = std::move(*open_sqlite_store(dir / "ledger.db", OpenMode::kReadWrite));
  BudgetRecord kg;
  kg.account = "lab";
  kg.year = 2026;
  kg.limit_kg = KgCo2{3.6};
  kg.policy = policy::Policy::kDeny;
  BudgetRecord kwh = kg;
  kwh.account = "a,b";
  kwh.limit_kg.reset();
  kwh.limit_energy = Microjoules(3'600'000'000'000);  // 1 kWh
  kwh.warn_at.basis_points = 9000;
  EXPECT_TRUE(store->set_budget(kg, std::nullopt, "root"));
  EXPECT_TRUE(store->set_budget(kwh, std::nullopt, "root"));
  for (const char* account : {"lab", "a,b"}) {
    JobRecord r = testing::sample_record(account, at_s(kNewYear2026 + 100));
    r.account = account;
    r.energy = DomainEnergy{Microjoules(900'000'000'000), {}, {}, {}, {}, {}};  // 0.25 kWh
    r.energy_charged = r.energy.total();
    r.co2_kg = 0.9;
    EXPECT_TRUE(store->append(r).value());
  }
  return budget_status(*store, std::nullopt, year, policy::WallTime(std::chrono::seconds(now_s)))
      .value();
}

TEST(BudgetStatus, ProjectsFromTheRecentRate) {
  // April 1, 2026: the jobs (January 1) are older than the 30-day window, so nothing more is
  // projected than what is used.
  auto rows = standing_at(kNewYear2026 + 90 * 86'400, 2026);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].budget.account, "a,b");  // ordered by account
  EXPECT_DOUBLE_EQ(rows[0].remaining, 0.75);
  EXPECT_DOUBLE_EQ(*rows[0].percent, 25.0);
  EXPECT_NEAR(*rows[0].projected, 0.25, 1e-12);
  EXPECT_EQ(rows[1].budget.account, "lab");
  EXPECT_NEAR(rows[1].remaining, 2.7, 1e-12);
  EXPECT_NEAR(*rows[1].percent, 25.0, 1e-12);
  EXPECT_NEAR(*rows[1].projected, 0.9, 1e-12);
  // January 11: the window is the 10 days since New Year; 0.9 kg in 10 days is 0.09 kg a day
  // for the 355 days left.
  rows = standing_at(kNewYear2026 + 10 * 86'400, 2026);
  EXPECT_NEAR(*rows[1].projected, 0.9 + 0.09 * 355, 1e-9);
  EXPECT_NEAR(*rows[0].projected, 0.25 + 0.025 * 355, 1e-9);  // kWh budget: kWh rate
}

TEST(BudgetStatus, APastYearProjectsWhatWasUsedAndAFutureOneNothing) {
  const auto past = standing_at(kNewYear2026 + 400 * 86'400, 2026);
  EXPECT_NEAR(*past[1].projected, 0.9, 1e-12);
  const auto future = standing_at(kNewYear2026 - 86'400, 2026);
  EXPECT_FALSE(future[1].projected.has_value());
}

TEST(RenderBudgets, TableCsvAndJson) {
  const auto rows = standing_at(kNewYear2026 + 90 * 86'400, 2026);
  EXPECT_EQ(
      render_budgets(rows, ListingFormat::kTable),
      "YEAR  ACCOUNT  USER  UNIT  LIMIT  USED  RUNNING  REMAINING  PERCENT  PROJECTED  POLICY  "
      "WARN AT\n"
      "2026  a,b      -     kWh    1.00  0.25     0.00       0.75    25.0%       0.25  deny    "
      "90%\n"
      "2026  lab      -     kg     3.60  0.90     0.00       2.70    25.0%       0.90  deny    "
      "80%\n");
  const std::string csv = render_budgets(rows, ListingFormat::kCsv);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "year,account,user,unit,limit,used,running,remaining,percent,projected,policy,warn_at");
  EXPECT_NE(csv.find("\n2026,\"a,b\",,kWh,1,0.25,0,0.75,25,"), std::string::npos) << csv;
  const auto j = nlohmann::json::parse(render_budgets(rows, ListingFormat::kJson));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["account"], "lab");
  EXPECT_DOUBLE_EQ(j[1]["used_kg"].get<double>(), 0.9);
  EXPECT_EQ(j[1]["jobs"], 1);
  EXPECT_EQ(j[1]["policy"], "deny");
  EXPECT_EQ(render_budgets({}, ListingFormat::kTable), "");
  EXPECT_EQ(render_budgets({}, ListingFormat::kJson), "[]\n");
}

}  // namespace
}  // namespace jobcarbon::ledger
