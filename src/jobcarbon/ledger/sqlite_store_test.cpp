// The SQLite Store's contract: exact round trip, the idempotent key, filters and order, and many
// writing processes at once. (Schema, migrations and damaged files: sqlite_schema_test.cpp.)
#include <jobcarbon/ledger/sqlite_store.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <jobcarbon/ledger/migrations.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::ledger {
namespace {

using jobcarbon::testing::TempDir;
using testing::at_s;
using testing::sample_record;

std::unique_ptr<Store> open_rw(const std::filesystem::path& p) {
  auto s = open_sqlite_store(p, OpenMode::kReadWrite);
  if (!s) ADD_FAILURE() << s.error();
  return s ? std::move(*s) : nullptr;
}

// g++ 12 warns on designated initializers that leave members out, hence this helper.
JobFilter filter(std::optional<std::string> account, std::optional<std::string> user = {},
                 std::optional<std::size_t> last = {}, bool with_report = false) {
  JobFilter f;
  f.account = std::move(account);
  f.user = std::move(user);
  f.last = last;
  f.with_report = with_report;
  return f;
}

std::vector<JobRecord> all(Store& s, JobFilter f = {}) {
  auto jobs = s.list_jobs(f);
  if (!jobs) ADD_FAILURE() << jobs.error();
  return jobs ? *jobs : std::vector<JobRecord>{};
}

TEST(SqliteStore, RoundTripsEveryFieldExactly) {
  TempDir dir;
  auto store = open_rw(dir / "ledger.db");
  JobRecord r = sample_record("local-42", at_s(1'767'225'600) + std::chrono::microseconds(123'457));
  // Past 2^53: a value stored as a double would come back rounded.
  r.energy.gpu = Microjoules(9'007'199'254'740'993);
  r.energy.cpu = Microjoules(1);
  r.energy.dram = Microjoules(22);
  r.energy.node = Microjoules(-333);  // a node rest below its components' sum stays signed
  r.energy.estimated_cpu = Microjoules(4444);
  r.energy.estimated_memory = Microjoules(55555);
  r.energy_charged = r.energy.total();
  r.machine_energy = Microjoules(9'007'199'254'740'999);
  r.unallocated_energy = Microjoules(6);
  r.method = "mixed";
  r.step = "batch";
  r.exit_code = 137;
  r.tags = {{"project", "ünïcode ✓"}, {"k'; DROP TABLE jobs; --", "v,\"q\""}};
  r.command = {"python3", "train.py", "--name", "it's a \"test\"", ""};
  r.intensity_kg_per_kwh = 0.1 + 0.2;  // not a short decimal: must come back bit for bit
  r.co2_kg = 1.0 / 3.0;
  r.pue = 1.0000000000000002;
  ASSERT_EQ(store->append(r), true);

  auto with_report = all(*store, filter({}, {}, {}, true));
  ASSERT_EQ(with_report.size(), 1u);
  EXPECT_EQ(with_report[0], r);
  EXPECT_EQ(with_report[0].energy.gpu.value, 9'007'199'254'740'993);

  auto without = all(*store);
  ASSERT_EQ(without.size(), 1u);
  EXPECT_EQ(without[0].report_json, "");
  without[0].report_json = r.report_json;
  EXPECT_EQ(without[0], r);
}

TEST(SqliteStore, SameKeyTwiceIsWrittenOnce) {
  TempDir dir;
  auto store = open_rw(dir / "ledger.db");
  const JobRecord first = sample_record("7", at_s(1'767'225'600));
  JobRecord retry = first;
  retry.energy.gpu = Microjoules(999);  // a retried write never replaces the record
  retry.tags["extra"] = "x";
  EXPECT_EQ(store->append(first), true);
  EXPECT_EQ(store->append(retry), false);
  EXPECT_EQ(store->append(first), false);
  auto jobs = all(*store, filter({}, {}, {}, true));
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0], first);
}

TEST(SqliteStore, EachKeyPartMakesADistinctRecord) {
  TempDir dir;
  auto store = open_rw(dir / "ledger.db");
  JobRecord base = sample_record("1001", at_s(1'767'225'600));
  JobRecord reused_id = base;  // Slurm reused the id after a controller reset
  reused_id.submit_time += std::chrono::hours(24 * 30);
  reused_id.start += std::chrono::hours(24 * 30);
  reused_id.end += std::chrono::hours(24 * 30);
  JobRecord other_step = base;
  other_step.step = "0";
  JobRecord other_node = base;
  other_node.node = "gpu-node-02";
  JobRecord other_cluster = base;
  other_cluster.cluster = "hpc2";
  for (const JobRecord* r : {&base, &reused_id, &other_step, &other_node, &other_cluster}) {
    EXPECT_EQ(store->append(*r), true) << r->job_id << " " << r->step << " " << r->node;
  }
  auto jobs = all(*store);
  ASSERT_EQ(jobs.size(), 5u);
  EXPECT_EQ(jobs[0].submit_time, reused_id.submit_time);  // newest first
}

TEST(SqliteStore, FiltersByAccountAndUserNewestFirst) {
  TempDir dir;
  auto store = open_rw(dir / "ledger.db");
  struct Row {
    const char* id;
    std::int64_t start;
    const char* user;
    const char* account;
  };
  // Written out of time order; "e" and "f" start at the same second ("f" written last).
  const Row rows[] = {{"a", 100, "ada", "vision"}, {"b", 300, "bob", "vision"},
                      {"c", 200, "ada", "nlp"},    {"d", 500, "ada", "vision"},
                      {"e", 400, "bob", "nlp"},    {"f", 400, "ada", ""}};
  for (const auto& row : rows) {
    JobRecord r = sample_record(row.id, at_s(1'700'000'000 + row.start));
    r.user = row.user;
    r.account = row.account;
    ASSERT_EQ(store->append(r), true);
  }
  auto ids = [&](JobFilter f) {
    std::string out;
    for (const auto& r : all(*store, f)) out += r.job_id;
    return out;
  };
  EXPECT_EQ(ids(filter({})), "dfebca");
  EXPECT_EQ(ids(filter("vision")), "dba");
  EXPECT_EQ(ids(filter("")), "f");
  EXPECT_EQ(ids(filter({}, "ada")), "dfca");
  EXPECT_EQ(ids(filter("vision", "ada")), "da");
  EXPECT_EQ(ids(filter({}, {}, 2)), "df");
  EXPECT_EQ(ids(filter({}, "bob", 1)), "e");
  EXPECT_EQ(ids(filter({}, {}, 0)), "");
  EXPECT_EQ(ids(filter("nobody")), "");
  EXPECT_EQ(ids(filter("' OR 1=1 --")), "");
}

TEST(SqliteStore, RejectsAnInvalidRecordAndWritesNothing) {
  TempDir dir;
  auto store = open_rw(dir / "ledger.db");
  JobRecord r = sample_record("1", at_s(1'700'000'000));
  r.method = "guessed";
  auto res = store->append(r);
  ASSERT_FALSE(res.has_value());
  EXPECT_NE(res.error().find("method is 'guessed'"), std::string::npos) << res.error();
  EXPECT_NE(res.error().find((dir / "ledger.db").string()), std::string::npos) << res.error();
  r = sample_record("", at_s(1'700'000'000));
  EXPECT_FALSE(store->append(r).has_value());
  EXPECT_TRUE(all(*store).empty());
}

// 8 processes each write 200 records, every job id also written by one other process, all
// opening the same new ledger at once (so the first migration races too). Every distinct key
// must be there exactly once, each process must have seen each append succeed, and the number
// of "inserted" answers must equal the number of records.
TEST(SqliteStore, ConcurrentWritersLoseNothingAndCountNothingTwice) {
  TempDir dir;
  const auto path = dir / "ledger.db";
  constexpr int kProcesses = 8;
  constexpr int kEach = 200;
  constexpr int kStride = 100;  // process p writes ids [p*100, p*100+200): overlaps p+1
  struct Child {
    pid_t pid;
    int fd;
  };
  std::vector<Child> children;
  for (int p = 0; p < kProcesses; ++p) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      int inserted = 0, failed = 0;
      auto store = open_sqlite_store(path, OpenMode::kReadWrite);
      if (!store) {
        failed = kEach;
      } else {
        for (int i = 0; i < kEach; ++i) {
          const int id = p * kStride + i;
          JobRecord r = sample_record(std::to_string(id), at_s(1'700'000'000 + id));
          r.energy.gpu = Microjoules(1'000'000'007LL * id);
          r.energy_charged = r.energy.total();
          r.tags = {{"writer", std::to_string(p)}};
          auto res = (*store)->append(r);
          if (!res) {
            ++failed;
          } else if (*res) {
            ++inserted;
          }
        }
      }
      const int msg[2] = {inserted, failed};
      (void)!write(fds[1], msg, sizeof msg);
      _exit(0);
    }
    close(fds[1]);
    children.push_back({pid, fds[0]});
  }
  int inserted = 0, failed = 0;
  for (const auto& c : children) {
    int msg[2] = {0, 0};
    EXPECT_EQ(read(c.fd, msg, sizeof msg), static_cast<ssize_t>(sizeof msg));
    close(c.fd);
    int status = 0;
    waitpid(c.pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    inserted += msg[0];
    failed += msg[1];
  }
  constexpr int kDistinct = (kProcesses - 1) * kStride + kEach;  // 900
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(inserted, kDistinct);

  auto store = open_rw(path);
  auto jobs = all(*store);
  ASSERT_EQ(jobs.size(), static_cast<std::size_t>(kDistinct));
  std::vector<int> seen(kDistinct, 0);
  for (const auto& r : jobs) {
    const int id = std::stoi(r.job_id);
    ASSERT_LT(id, kDistinct);
    ++seen[id];
    EXPECT_EQ(r.energy.gpu.value, 1'000'000'007LL * id);
    EXPECT_EQ(r.tags.size(), 1u);  // tags come with their record, from the writer that won
  }
  for (int id = 0; id < kDistinct; ++id) EXPECT_EQ(seen[id], 1) << id;
  EXPECT_EQ(testing::raw_int(path, "SELECT count(*) FROM schema_migrations"),
            latest_schema_version());
  EXPECT_EQ(testing::raw_text(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(testing::raw_int(path, "SELECT count(*) FROM job_tags"), kDistinct);
}

}  // namespace
}  // namespace jobcarbon::ledger
