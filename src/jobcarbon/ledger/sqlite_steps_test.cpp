// Step records in the SQLite ledger (migration 0007): a version-6 ledger gains job_steps and
// keeps its jobs and totals; a row edited by hand is an error naming it, never a wrong record.
// (What steps must and must not change on both backends: store_contract_test.cpp.)
#include <jobcarbon/ledger/sqlite_store.hpp>

#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <jobcarbon/ledger/migrations.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::ledger {
namespace {

using jobcarbon::testing::TempDir;
using testing::at_s;
using ::testing::HasSubstr;
using testing::raw_exec;
using testing::raw_int;
using testing::raw_text;
using testing::sample_record;

std::unique_ptr<Store> open_rw(const std::filesystem::path& path) {
  auto store = open_sqlite_store(path, OpenMode::kReadWrite);
  if (!store) throw std::runtime_error(store.error());
  return std::move(*store);
}

TEST(SqliteSteps, AVersionSixLedgerGainsStepsAndKeepsItsJobsAndTotals) {
  TempDir dir;
  const auto path = dir / "v6.db";
  // A ledger as a version-6 jobcarbon leaves it: migrations 1-6, one job written through them.
  std::string sql;
  for (const auto& m : sqlite_migrations()) {
    if (m.version > 6) break;
    sql += std::string(m.sql) +
           fmt::format(
               ";\nINSERT INTO schema_migrations (version, name, oldest_compatible) "
               "VALUES ({}, '{}', {});\n",
               m.version, m.name, m.oldest_compatible);
  }
  raw_exec(path, sql + fmt::format("PRAGMA user_version = 6; PRAGMA application_id = {}",
                                   kApplicationId));
  raw_exec(path,
           "INSERT INTO jobs (cluster, job_id, submit_us, step, node, user_name, account, "
           "start_us, end_us, exit_code, charged_uj, method, intensity_kg_per_kwh, co2_kg) VALUES "
           "('hpc', '77', 0, 'job', 'n1', 'ada', 'lab', 1767225600000000, 1767229200000000, 0, "
           "100, 'measured', 0.4, 1.5);"
           "INSERT INTO usage_totals VALUES ('lab', 'ada', 2026, 1.5, 100, 1), "
           "('lab', '', 2026, 1.5, 100, 1)");
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'job_steps'"), 0);

  auto store = open_rw(path);
  EXPECT_EQ(store->schema_version(), 7);
  EXPECT_EQ(raw_text(path, "SELECT name FROM schema_migrations WHERE version = 7"),
            "0007_job_steps");
  // Additive: binaries of schema 2 and later may still write it (a rolling upgrade).
  EXPECT_EQ(raw_int(path, "SELECT max(oldest_compatible) FROM schema_migrations"), 2);
  EXPECT_EQ(store->job_records("77").value().size(), 1u);
  EXPECT_EQ(store->usage("lab", "", 2026).value(), (Usage{KgCo2{1.5}, Microjoules(100), 1}));
  EXPECT_TRUE(store->job_steps("77").value().empty());

  JobRecord step = sample_record("77", at_s(1'767'225'700));
  step.cluster = "hpc";
  step.submit_time = at_s(0);
  step.node = "n1";
  step.step = "batch";
  step.account = "lab";
  ASSERT_EQ(store->append_step(step), true);
  EXPECT_EQ(store->job_steps("77").value(), std::vector<JobRecord>{step});
  EXPECT_EQ(store->usage("lab", "", 2026).value(), (Usage{KgCo2{1.5}, Microjoules(100), 1}));
}

TEST(SqliteSteps, ARowEditedByHandIsAnErrorNamingIt) {
  TempDir dir;
  const auto path = dir / "ledger.db";
  JobRecord step = sample_record("5", at_s(1'767'225'700));
  step.step = "0";
  {
    auto store = open_rw(path);
    ASSERT_EQ(store->append_step(step), true);
  }
  raw_exec(path, "UPDATE job_steps SET record_json = '{\"cluster\": \"local\", \"job_id\": 5}'");
  auto store = open_rw(path);
  auto read = store->job_steps("5");
  ASSERT_FALSE(read);
  EXPECT_THAT(read.error(), HasSubstr("sqlite:" + path.string()));
  EXPECT_THAT(read.error(),
              HasSubstr("job_steps row (cluster local, job 5, node gpu-node-01, step 0): "
                        "record_json: job_id: expected a string"));
  raw_exec(path, "UPDATE job_steps SET record_json = 'not json'");
  EXPECT_THAT(store->job_steps("5").error(), HasSubstr("record_json: not JSON"));
}

TEST(SqliteSteps, TextThatIsNotUtf8IsKeptReplacedNotLost) {
  TempDir dir;
  auto store = open_rw(dir / "ledger.db");
  JobRecord step = sample_record("6", at_s(1'767'225'700));
  step.step = "batch";
  step.command = {"python3", "caf\xe9.py"};  // Latin-1, as a shell may pass it
  ASSERT_EQ(store->append_step(step), true);
  const auto back = store->job_steps("6").value();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].command, (std::vector<std::string>{"python3", "caf\xef\xbf\xbd.py"}));
  EXPECT_EQ(back[0].energy_charged, step.energy_charged);
}

}  // namespace
}  // namespace jobcarbon::ledger
