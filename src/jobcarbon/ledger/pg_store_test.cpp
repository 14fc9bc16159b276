// What only the PostgreSQL ledger has: libpq loaded at run time, descriptions without passwords,
// the group roles enforced by the server (even for SQL typed by hand), the audit trigger,
// private data by row-level security, the server going away mid-write, concurrent first opens,
// and a newer incompatible schema refused untouched. The Store contract itself is
// store_contract_test.cpp.
#include <jobcarbon/ledger/pg_store.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <tuple>

#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <jobcarbon/ledger/migrations.hpp>
#include <jobcarbon/ledger/pg_connection.hpp>
#include <jobcarbon/ledger/pg_schema.hpp>
#include <jobcarbon/ledger/pg_test_support.hpp>
#include <jobcarbon/ledger/test_support.hpp>

namespace jobcarbon::ledger {
namespace {

using testing::at_s;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::sample_record;

constexpr std::int64_t k20260101 = 1'767'225'600;

BudgetRecord kg_budget(std::string account, int year, double kg) {
  BudgetRecord b;
  b.account = std::move(account);
  b.year = year;
  b.limit_kg = KgCo2{kg};
  return b;
}

TEST(PgApi, AMissingLibpqIsAClearError) {
  auto store = open_pg_store("postgresql:///x", OpenMode::kReadWrite,
                             PgOptions{"/nonexistent/libpq.so.5", {}});
  ASSERT_FALSE(store);
  EXPECT_THAT(store.error(),
              HasSubstr("postgresql ledger: cannot load /nonexistent/libpq.so.5 (install libpq5)"));
}

TEST(PgApi, ALibraryThatIsNotLibpqIsAClearError) {
  auto api = PgApi::load("libm.so.6");
  ASSERT_FALSE(api);
  EXPECT_THAT(api.error(), HasSubstr("postgresql ledger: libm.so.6 is not libpq ("));
  EXPECT_THAT(api.error(), HasSubstr("PQconnectdbParams"));
}

TEST(PgConnection, DescriptionsNeverShowThePassword) {
  auto api = PgApi::load();
  ASSERT_TRUE(api) << api.error();
  EXPECT_EQ(describe_conninfo(**api, "postgresql://ada:s3cret@db.example.org/ledger"),
            "postgresql://ada@db.example.org/ledger");
  EXPECT_EQ(describe_conninfo(**api, "host=db port=5433 user=ada password=s3cret dbname=l"),
            "postgresql://ada@db:5433/l");
  EXPECT_EQ(describe_conninfo(**api, "postgresql:///ledger?service=site"),
            "postgresql:///ledger?service=site");
  EXPECT_EQ(describe_conninfo(**api, "host='unterminated"),
            "postgresql ledger (unreadable connection string)");
  // A server that is not there: the error names the ledger, not the password.
  auto store = open_store("postgresql://ada:s3cret@127.0.0.1:1/ledger?connect_timeout=2");
  ASSERT_FALSE(store);
  EXPECT_THAT(store.error(), HasSubstr("postgresql://ada@127.0.0.1:1/ledger: cannot connect"));
  EXPECT_THAT(store.error(), Not(HasSubstr("s3cret")));
}

class PgLedger : public ::testing::Test {
 protected:
  void SetUp() override { JOBCARBON_PG_DATABASE_OR_SKIP(pg_); }

  std::unique_ptr<Store> open(const std::string& url, OpenMode mode = OpenMode::kReadWrite,
                              const PgOptions& options = {}) {
    auto s = open_pg_store(url, mode, options);
    if (!s) throw std::runtime_error(s.error());
    return std::move(*s);
  }

  // The SQLSTATE of SQL run directly by a new connection as CONNINFO ("" when it succeeded).
  std::string sqlstate_of(const std::string& conninfo, const std::string& sql) {
    auto api = PgApi::load();
    auto c = PgConnection::connect(*api, conninfo);
    if (!c) return "connect: " + c.error();
    auto r = c->exec(sql);
    return r ? "" : r.error().sqlstate;
  }

  std::unique_ptr<testing::PgTestDatabase> pg_;
};

TEST_F(PgLedger, FirstOpenCreatesTheSchemaRolesAndVersionAndDescribesItself) {
  auto store = open(pg_->url());
  EXPECT_EQ(store->schema_version(), latest_schema_version());
  EXPECT_THAT(store->describe(), HasSubstr("/" + pg_->name()));
  EXPECT_THAT(store->describe(), ::testing::StartsWith("postgresql://"));
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.schema_migrations"),
            latest_schema_version());
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM pg_roles WHERE rolname IN ('jobcarbon_admin', "
                         "'jobcarbon_writer', 'jobcarbon_reader') AND NOT rolcanlogin"),
            3);
  EXPECT_EQ(pg_->raw_text("SELECT value FROM jobcarbon.settings WHERE key = 'private_data'"),
            "off");
}

TEST_F(PgLedger, ReadOnlyOpenOfAnEmptyDatabaseChangesNothing) {
  auto store = open_pg_store(pg_->url(), OpenMode::kReadOnly);
  ASSERT_FALSE(store);
  EXPECT_THAT(store.error(), HasSubstr("no jobcarbon ledger in this database yet"));
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM pg_namespace WHERE nspname = 'jobcarbon'"), 0);
}

TEST_F(PgLedger, ASchemaNamedJobcarbonThatIsNotALedgerIsRefusedUntouched) {
  pg_->exec("CREATE SCHEMA jobcarbon; CREATE TABLE jobcarbon.mine (x int)");
  auto store = open_pg_store(pg_->url(), OpenMode::kReadWrite);
  ASSERT_FALSE(store);
  EXPECT_THAT(store.error(), HasSubstr("not a jobcarbon ledger; nothing was changed"));
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM pg_tables WHERE schemaname = 'jobcarbon'"), 1);
}

TEST_F(PgLedger, ANewerIncompatibleSchemaIsRefusedUntouched) {
  { open(pg_->url())->append(sample_record("1", at_s(k20260101))).value(); }
  const int future = latest_schema_version() + 1;
  // A newer jobcarbon declared that binaries before `future` would get its ledger wrong.
  pg_->exec(
      fmt::format("INSERT INTO jobcarbon.schema_migrations (version, name, "
                  "oldest_compatible) VALUES ({0}, 'future', {0})",
                  future));
  for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly}) {
    auto store = open_pg_store(pg_->url(), mode);
    ASSERT_FALSE(store);
    EXPECT_THAT(store.error(), HasSubstr(fmt::format("schema is version {}", future)));
    EXPECT_THAT(store.error(), HasSubstr(fmt::format("knows version {} or newer", future)));
    EXPECT_THAT(store.error(), HasSubstr("The ledger was not changed"));
  }
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.jobs"), 1);
  EXPECT_EQ(pg_->raw_int("SELECT max(version) FROM jobcarbon.schema_migrations"), future);
  // An additive newer migration (oldest_compatible not raised) is used as it is.
  pg_->exec(
      fmt::format("UPDATE jobcarbon.schema_migrations SET oldest_compatible = 2 WHERE "
                  "version = {}",
                  future));
  EXPECT_EQ(open(pg_->url(), OpenMode::kReadOnly)->schema_version(), future);
}

TEST_F(PgLedger, ManyProcessesOpeningANewLedgerAtOnceMigrateItOnce) {
  constexpr int kProcesses = 12;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = open_pg_store(pg_->url(), OpenMode::kReadWrite);
      if (!store) _exit(10);
      JobRecord r = sample_record(std::to_string(p), at_s(k20260101));
      _exit((*store)->append(r).value_or(false) ? 0 : 11);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.schema_migrations"),
            latest_schema_version());
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.jobs"), kProcesses);
}

TEST_F(PgLedger, RolesAreEnforcedByTheServerAndEveryBudgetChangeIsAudited) {
  open(pg_->url());  // the owner creates the schema and roles
  const std::string reader = pg_->login_role("reader", "jobcarbon_reader");
  const std::string writer = pg_->login_role("writer", "jobcarbon_writer");
  const std::string admin = pg_->login_role("admin", "jobcarbon_admin");
  const std::string nobody = pg_->login_role("nobody", "");

  // Direct SQL: a reader may not write jobs or budgets; an outsider may not even read.
  const std::string insert_budget =
      "INSERT INTO budgets (account, period_year, limit_kg, updated_at, updated_by) "
      "VALUES ('lab', 2026, 1, 'now', 'me')";
  EXPECT_EQ(sqlstate_of(reader, insert_budget), "42501");
  EXPECT_EQ(sqlstate_of(reader,
                        "INSERT INTO jobs (cluster, job_id, submit_us, node, start_us, end_us, "
                        "exit_code, charged_uj, method, intensity_kg_per_kwh, co2_kg) VALUES "
                        "('c', 'j', 0, 'n', 0, 0, 0, 0, 'measured', 0, 0)"),
            "42501");
  EXPECT_EQ(sqlstate_of(reader, "UPDATE usage_totals SET co2_kg = 0"), "42501");
  EXPECT_EQ(sqlstate_of(reader, "SELECT count(*) FROM jobs"), "");
  EXPECT_EQ(sqlstate_of(nobody, "SELECT count(*) FROM jobcarbon.jobs"), "42501");
  EXPECT_EQ(sqlstate_of(writer, insert_budget), "42501");
  EXPECT_EQ(sqlstate_of(admin,
                        "INSERT INTO budget_audit (who, account, user_name, period_year) "
                        "VALUES ('forged', 'x', '', 2026)"),
            "42501");  // the audit is the trigger's alone

  // Through the Store: the writer appends but may not set budgets, with a message saying why.
  auto as_writer = open(writer);
  EXPECT_EQ(as_writer->append(sample_record("1", at_s(k20260101))).value(), true);
  auto refused = as_writer->set_budget(kg_budget("lab", 2026, 5), std::nullopt, "ada");
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error(),
              HasSubstr(fmt::format("role '{}' may not change budgets", pg_->role_name("writer"))));
  EXPECT_THAT(refused.error(),
              HasSubstr(fmt::format("GRANT jobcarbon_admin TO \"{}\"", pg_->role_name("writer"))));
  EXPECT_THAT(refused.error(), Not(HasSubstr(":pw@")));
  auto as_reader = open(reader, OpenMode::kReadOnly);
  EXPECT_FALSE(as_reader->append(sample_record("2", at_s(k20260101))));
  EXPECT_EQ(as_reader->list_jobs({}).value().size(), 1u);
  EXPECT_FALSE(as_reader->set_budget(kg_budget("lab", 2026, 5), "dept", "ada"));
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.budgets"), 0);
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.account_parents"), 0);

  // The admin may; the trigger audits the Store's change and SQL typed by hand alike.
  auto as_admin = open(admin);
  ASSERT_TRUE(as_admin->set_budget(kg_budget("lab", 2026, 5), "dept", "ada"));
  ASSERT_TRUE(as_admin->set_budget(kg_budget("lab", 2026, 7), "school", "ada"));
  auto c = PgConnection::connect(*PgApi::load(), admin);
  ASSERT_TRUE(c) << c.error();
  ASSERT_TRUE(c->exec("UPDATE budgets SET limit_kg = 9 WHERE account = 'lab'"));
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.budget_audit"), 3);
  EXPECT_EQ(pg_->raw_int(fmt::format("SELECT count(*) FROM jobcarbon.budget_audit WHERE who = "
                                     "'{}'",
                                     pg_->role_name("admin"))),
            3);
  EXPECT_EQ(pg_->raw_text("SELECT string_agg(client_user, ',' ORDER BY id) FROM "
                          "jobcarbon.budget_audit"),
            "ada,ada,");
  EXPECT_EQ(pg_->raw_text("SELECT old->>'parent' || '>' || (new->>'parent') || ' ' || "
                          "(old->>'limit_kg') || '>' || (new->>'limit_kg') FROM "
                          "jobcarbon.budget_audit WHERE id = 2"),
            "dept>school 5>7");
  EXPECT_EQ(pg_->raw_text("SELECT (old->>'limit_kg') || '>' || (new->>'limit_kg') || ' ' || "
                          "(new->>'parent') FROM jobcarbon.budget_audit WHERE id = 3"),
            "7>9 school");
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.budget_audit WHERE id = 1 AND old IS "
                         "NULL"),
            1);
}

TEST_F(PgLedger, PrivateDataShowsReadersOnlyTheirOwnJobsAndTheirAccountsTotals) {
  {
    auto owner = open(pg_->url());
    for (const auto& [id, user, account] :
         {std::tuple{"1", "u_ada", "lab"}, std::tuple{"2", "u_bob", "lab"},
          std::tuple{"3", "u_bob", "other"}, std::tuple{"4", "u_eve", "secret"}}) {
      JobRecord r = sample_record(id, at_s(k20260101));
      r.user = fmt::format("{}_{}", pg_->name(), user);
      r.account = account;
      ASSERT_TRUE(owner->append(r).value());
    }
  }
  const std::string ada = pg_->login_role("u_ada", "jobcarbon_reader");
  const std::string writer = pg_->login_role("w", "jobcarbon_writer");
  pg_->exec(fmt::format("INSERT INTO jobcarbon.account_users VALUES ('other', '{}')",
                        pg_->role_name("u_ada")));
  const auto visible = [&](const std::string& who) {
    auto store = open(who, OpenMode::kReadOnly);
    std::vector<std::string> ids;
    const auto jobs = store->list_jobs({}).value();
    for (const auto& j : jobs) ids.push_back(j.job_id);
    std::sort(ids.begin(), ids.end());
    const auto one = store->job_records("1").value();
    return fmt::format(
        "{} | lab {} other {} secret {} | tags {}", fmt::join(ids, ","),
        store->usage("lab", "", 2026).value().jobs, store->usage("other", "", 2026).value().jobs,
        store->usage("secret", "", 2026).value().jobs, one.empty() ? 0 : one[0].tags.size());
  };
  EXPECT_EQ(visible(ada), "1,2,3,4 | lab 2 other 1 secret 1 | tags 2");  // off: everything
  pg_->exec("UPDATE jobcarbon.settings SET value = 'on' WHERE key = 'private_data'");
  // On: ada sees her job; totals of lab (her jobs) and other (account_users), not secret.
  EXPECT_EQ(visible(ada), "1 | lab 2 other 1 secret 0 | tags 2");
  EXPECT_EQ(visible(writer), "1,2,3,4 | lab 2 other 1 secret 1 | tags 2");
  EXPECT_EQ(visible(pg_->url()), "1,2,3,4 | lab 2 other 1 secret 1 | tags 2");
  // Direct SQL obeys the same rows.
  auto c = PgConnection::connect(*PgApi::load(), ada);
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->exec("SELECT count(*) FROM jobs")->int64(0, 0), 1);
  EXPECT_EQ(c->exec("SELECT count(*) FROM job_tags")->int64(0, 0), 2);
  EXPECT_EQ(c->exec("SELECT count(*) FROM usage_totals WHERE account = 'secret'")->int64(0, 0), 0);
  // A reader may not turn it off.
  auto off = c->exec("UPDATE settings SET value = 'off'");
  ASSERT_FALSE(off);
  EXPECT_EQ(off.error().sqlstate, "42501");
}

TEST_F(PgLedger, TheServerGoingAwayMidWriteLeavesNothingAndARetryCountsOnce) {
  open(pg_->url());
  const JobRecord r = sample_record("42", at_s(k20260101));
  PgOptions options;
  options.before_commit = [this](PgConnection& victim) {
    // From another connection, as an administrator or a crash would.
    pg_->exec(fmt::format("SELECT pg_terminate_backend({})", victim.backend_pid()));
  };
  auto store = open(pg_->url(), OpenMode::kReadWrite, options);
  auto res = store->append(r);
  ASSERT_FALSE(res);
  EXPECT_THAT(res.error(), HasSubstr(store->describe()));
  EXPECT_THAT(res.error(), HasSubstr("connection to the server was lost"));
  EXPECT_THAT(res.error(), HasSubstr("nothing of it was written"));
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.jobs"), 0);
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.job_tags"), 0);
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.usage_totals"), 0);
  // The dead store keeps saying so; a new one writes the record, once.
  EXPECT_FALSE(store->append(r));
  auto again = open(pg_->url());
  EXPECT_EQ(again->append(r).value(), true);
  EXPECT_EQ(again->append(r).value(), false);
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.jobs"), 1);
  EXPECT_EQ(again->usage("vision-lab", "ada", 2026).value().jobs, 1);
  EXPECT_EQ(again->usage("vision-lab", "", 2026).value().energy, r.energy_charged);
}

TEST_F(PgLedger, TextWithANulByteIsRefusedNotCut) {
  auto store = open(pg_->url());
  JobRecord r = sample_record("1", at_s(k20260101));
  r.account = std::string("lab\0x", 5);
  auto res = store->append(r);
  ASSERT_FALSE(res);
  EXPECT_THAT(res.error(), HasSubstr("account contains a NUL byte"));
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.jobs"), 0);
}

// Step records (migration 0007) are protected as jobs are: writers append, nobody changes or
// deletes them, and with private data on a reader sees only the steps of its own jobs.
TEST_F(PgLedger, StepsFollowTheRolesAndPrivateDataOfJobs) {
  open(pg_->url());
  const std::string ada = pg_->login_role("u_ada", "jobcarbon_reader");
  const std::string writer = pg_->login_role("w", "jobcarbon_writer");
  const std::string nobody = pg_->login_role("nobody", "");
  const auto step_of = [&](const char* job, const char* user) {
    JobRecord r = sample_record(job, at_s(k20260101));
    r.step = "batch";
    r.user = pg_->role_name(user);
    return r;
  };
  auto as_writer = open(writer);
  ASSERT_EQ(as_writer->append_step(step_of("1", "u_ada")), true);
  ASSERT_EQ(as_writer->append_step(step_of("2", "u_bob")), true);
  EXPECT_EQ(as_writer->append_step(step_of("2", "u_bob")), false);

  auto as_reader = open(ada, OpenMode::kReadOnly);
  EXPECT_FALSE(as_reader->append_step(step_of("3", "u_ada")));
  EXPECT_EQ(sqlstate_of(ada,
                        "INSERT INTO job_steps (cluster, job_id, submit_us, node, step, start_us, "
                        "end_us, exit_code, charged_uj, co2_kg, record_json) VALUES ('c', 'j', 0, "
                        "'n', 's', 0, 0, 0, 0, 0, '{}')"),
            "42501");
  EXPECT_EQ(sqlstate_of(writer, "UPDATE job_steps SET co2_kg = 0"), "42501");
  EXPECT_EQ(sqlstate_of(writer, "DELETE FROM job_steps"), "42501");
  EXPECT_EQ(sqlstate_of(nobody, "SELECT count(*) FROM jobcarbon.job_steps"), "42501");
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.job_steps"), 2);

  const auto visible = [&](const std::string& who) {
    auto store = open(who, OpenMode::kReadOnly);
    return store->job_steps("1").value().size() + store->job_steps("2").value().size();
  };
  EXPECT_EQ(visible(ada), 2u);  // private data off: everything
  pg_->exec("UPDATE jobcarbon.settings SET value = 'on' WHERE key = 'private_data'");
  EXPECT_EQ(visible(ada), 1u);
  EXPECT_EQ(open(ada, OpenMode::kReadOnly)->job_steps("1").value().at(0).user,
            pg_->role_name("u_ada"));
  EXPECT_EQ(visible(writer), 2u);
  EXPECT_EQ(visible(pg_->url()), 2u);
  auto c = PgConnection::connect(*PgApi::load(), ada);
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->exec("SELECT count(*) FROM job_steps")->int64(0, 0), 1);  // direct SQL too
}

TEST_F(PgLedger, StepTextWithANulByteIsRefusedNotCut) {
  auto store = open(pg_->url());
  JobRecord r = sample_record("1", at_s(k20260101));
  r.step = std::string("0\0x", 3);
  auto res = store->append_step(r);
  ASSERT_FALSE(res);
  EXPECT_THAT(res.error(), HasSubstr("step contains a NUL byte"));
  r.step = "0";
  r.command = {std::string("a\0b", 3)};  // kept in record_json, escaped: stored whole
  ASSERT_EQ(store->append_step(r), true);
  EXPECT_EQ(store->job_steps("1").value().at(0).command, r.command);
  EXPECT_EQ(pg_->raw_int("SELECT count(*) FROM jobcarbon.job_steps"), 1);
}

}  // namespace
}  // namespace jobcarbon::ledger
