// Opening SQLite ledgers: migrations from nothing, re-opening without writing, newer schemas,
// files that are not ledgers, damaged or read-only files. Every refusal names the file and
// leaves its bytes as they were.
#include <jobcarbon/ledger/sqlite_store.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <jobcarbon/ledger/migrations.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/temp_dir.hpp>
#include <jobcarbon/testing/unprivileged.hpp>

namespace jobcarbon::ledger {
namespace {

using jobcarbon::testing::TempDir;
using testing::at_s;
using testing::file_bytes;
using ::testing::HasSubstr;
using testing::raw_exec;
using testing::raw_int;
using testing::raw_text;
using testing::sample_record;

// Make a ledger at path holding n records. The Store leaves recent writes in the -wal file
// (no checkpoint on close, for speed); the last raw connection here folds them into the file and
// removes the -wal and -shm files, as `sqlite3 ledger.db` would.
void make_ledger(const std::filesystem::path& path, int n = 1) {
  {
    auto store = open_sqlite_store(path, OpenMode::kReadWrite);
    ASSERT_TRUE(store.has_value()) << store.error();
    for (int i = 0; i < n; ++i) {
      JobRecord r = sample_record(std::to_string(i), at_s(1'700'000'000 + i));
      r.report_json = std::string(2000, 'x');  // several pages for n of a few dozen
      ASSERT_EQ((*store)->append(r), true);
    }
  }
  raw_exec(path, "PRAGMA wal_checkpoint(TRUNCATE)");
}

// Return what the ledger holds on disk: the database file and its write-ahead log.
std::string ledger_bytes(const std::filesystem::path& path) {
  return file_bytes(path) + "\n--wal--\n" + file_bytes(path.string() + "-wal");
}

// Return the names of the files in dir (to see that no -wal/-shm/-journal was left behind).
std::vector<std::string> names_in(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Migrations, AreNumberedInOrder) {
  const auto list = sqlite_migrations();
  ASSERT_FALSE(list.empty());
  for (std::size_t i = 0; i < list.size(); ++i) {
    EXPECT_EQ(list[i].version, static_cast<int>(i) + 1);
    EXPECT_TRUE(list[i].name.starts_with(fmt::format("{:04}_", i + 1))) << list[i].name;
    EXPECT_GE(list[i].oldest_compatible, 1);
    EXPECT_LE(list[i].oldest_compatible, list[i].version);
  }
  EXPECT_EQ(latest_schema_version(), list.back().version);
}

TEST(SqliteSchema, CreatesAndMigratesANewLedger) {
  TempDir dir;
  const auto path = dir / "ledger.db";
  {
    auto store = open_sqlite_store(path, OpenMode::kReadWrite);
    ASSERT_TRUE(store.has_value()) << store.error();
    EXPECT_EQ((*store)->schema_version(), latest_schema_version());
    EXPECT_EQ((*store)->describe(), "sqlite:" + path.string());
  }
  EXPECT_EQ(raw_int(path, "PRAGMA user_version"), latest_schema_version());
  EXPECT_EQ(raw_int(path, "PRAGMA application_id"), kApplicationId);
  EXPECT_EQ(raw_text(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM schema_migrations"), latest_schema_version());
  EXPECT_EQ(raw_text(path, "SELECT name FROM schema_migrations WHERE version = 1"), "0001_jobs");
}

TEST(SqliteSchema, MigratesAnEmptyExistingFile) {
  TempDir dir;
  const auto path = dir / "ledger.db";
  { std::ofstream touch(path); }
  auto store = open_sqlite_store(path, OpenMode::kReadWrite);
  ASSERT_TRUE(store.has_value()) << store.error();
  EXPECT_EQ((*store)->schema_version(), latest_schema_version());
}

TEST(SqliteSchema, ReopeningAMigratedLedgerChangesNothing) {
  TempDir dir;
  const auto path = dir / "ledger.db";
  make_ledger(path, 3);
  {
    auto store = open_sqlite_store(path, OpenMode::kReadWrite);  // recent writes in the WAL
    ASSERT_TRUE(store.has_value()) << store.error();
    ASSERT_EQ((*store)->append(sample_record("in-wal", at_s(1'800'000'000))), true);
  }
  const std::string before = ledger_bytes(path);
  for (int i = 0; i < 3; ++i) {
    auto store = open_sqlite_store(path, OpenMode::kReadWrite);
    ASSERT_TRUE(store.has_value()) << store.error();
    auto jobs = (*store)->list_jobs({});
    ASSERT_TRUE(jobs.has_value()) << jobs.error();
    EXPECT_EQ(jobs->size(), 4u);
  }
  EXPECT_EQ(ledger_bytes(path), before);
  EXPECT_EQ(raw_int(path, "SELECT count(*) FROM schema_migrations"), latest_schema_version());
}

TEST(SqliteSchema, RefusesANewerIncompatibleSchemaWithoutTouchingIt) {
  TempDir dir;
  const auto path = dir / "ledger.db";
  make_ledger(path);
  const int next = latest_schema_version() + 1;
  raw_exec(path, fmt::format("INSERT INTO schema_migrations (version, name, oldest_compatible) "
                             "VALUES ({0}, '{0:04}_future', {0}); PRAGMA user_version = {0}",
                             next));
  const std::string before = ledger_bytes(path);
  for (auto mode : {OpenMode::kReadWrite, OpenMode::kReadOnly}) {
    auto store = open_sqlite_store(path, mode);
    ASSERT_FALSE(store.has_value());
    EXPECT_THAT(store.error(), HasSubstr(path.string()));
    EXPECT_THAT(store.error(), HasSubstr(fmt::format("version {}", next)));
    EXPECT_THAT(store.error(), HasSubstr(fmt::format("up to version {}", next - 1)));
    EXPECT_THAT(store.error(), HasSubstr("upgrade jobcarbon"));
    EXPECT_EQ(ledger_bytes(path), before);
  }
  EXPECT_EQ(raw_int(path, "PRAGMA user_version"), next);
}

// A rolling upgrade: a newer jobcarbon added a column (additive, compatible with version 1);
// this binary keeps reading and writing the ledger.
TEST(SqliteSchema, UsesANewerSchemaDeclaredCompatible) {
  TempDir dir;
  const auto path = dir / "ledger.db";
  make_ledger(path);
  const int next = latest_schema_version() + 1;
  raw_exec(path, fmt::format("ALTER TABLE jobs ADD COLUMN energy_source TEXT; "
                             "INSERT INTO schema_migrations (version, name, oldest_compatible) "
                             "VALUES ({0}, '{0:04}_energy_source', 1); PRAGMA user_version = {0}",
                             next));
  auto store = open_sqlite_store(path, OpenMode::kReadWrite);
  ASSERT_TRUE(store.has_value()) << store.error();
  EXPECT_EQ((*store)->schema_version(), next);
  EXPECT_EQ((*store)->append(sample_record("new", at_s(1'800'000'000))), true);
  auto jobs = (*store)->list_jobs({});
  ASSERT_TRUE(jobs.has_value()) << jobs.error();
  EXPECT_EQ(jobs->size(), 2u);
  EXPECT_EQ(raw_int(path, "PRAGMA user_version"), next);
}

TEST(SqliteSchema, RefusesAFileThatIsNotADatabaseWithoutTouchingIt) {
  TempDir dir;
  const auto path = dir / "ledger.db";
  std::string text;
  for (int i = 0; i < 200; ++i) text += "this is a text file, not a ledger\n";
  std::ofstream(path) << text;
  for (auto mode : {OpenMode::kReadWrite, OpenMode::kReadOnly}) {
    auto store = open_sqlite_store(path, mode);
    ASSERT_FALSE(store.has_value());
    EXPECT_THAT(store.error(), HasSubstr(path.string()));
    EXPECT_THAT(store.error(), HasSubstr("not an SQLite database"));
  }
  EXPECT_EQ(file_bytes(path), text);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"ledger.db"});
}

TEST(SqliteSchema, RefusesAnotherProgramsDatabaseWithoutTouchingIt) {
  TempDir dir;
  const auto path = dir / "photos.db";
  raw_exec(path, "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)");
  const std::string before = file_bytes(path);
  auto store = open_sqlite_store(path, OpenMode::kReadWrite);
  ASSERT_FALSE(store.has_value());
  EXPECT_THAT(store.error(), HasSubstr(path.string()));
  EXPECT_THAT(store.error(), HasSubstr("not a jobcarbon ledger"));
  EXPECT_EQ(file_bytes(path), before);

  raw_exec(path, "PRAGMA application_id = 1234; PRAGMA user_version = 1");
  const std::string stamped = file_bytes(path);
  store = open_sqlite_store(path, OpenMode::kReadWrite);
  ASSERT_FALSE(store.has_value());
  EXPECT_THAT(store.error(), HasSubstr("another program (application_id 0x4d2)"));
  EXPECT_EQ(file_bytes(path), stamped);
}

TEST(SqliteSchema, ATruncatedLedgerGivesAnErrorNamingItAndStaysAsItWas) {
  TempDir dir;
  const auto path = dir / "ledger.db";
  make_ledger(path, 40);
  const auto full = std::filesystem::file_size(path);
  ASSERT_GT(full, 16u * 4096u);
  std::filesystem::resize_file(path, full / 2);
  const std::string before = ledger_bytes(path);

  std::string error;
  auto store = open_sqlite_store(path, OpenMode::kReadWrite);
  if (!store) {
    error = store.error();
  } else {
    auto listed = (*store)->list_jobs({});
    auto added = (*store)->append(sample_record("after", at_s(1'800'000'000)));
    ASSERT_FALSE(listed.has_value() && added.has_value());
    error = !listed ? listed.error() : added.error();
  }
  EXPECT_THAT(error, HasSubstr(path.string()));
  EXPECT_THAT(error, HasSubstr("damaged"));
  store = {};
  EXPECT_EQ(ledger_bytes(path), before);
}

TEST(SqliteSchema, ReadOnlyModeNeverCreatesALedger) {
  TempDir dir;
  const auto path = dir / "missing.db";
  auto store = open_sqlite_store(path, OpenMode::kReadOnly);
  ASSERT_FALSE(store.has_value());
  EXPECT_THAT(store.error(), HasSubstr(path.string()));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SqliteSchema, AMissingDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  const auto path = dir / "no" / "such" / "dir" / "ledger.db";
  auto store = open_sqlite_store(path, OpenMode::kReadWrite);
  ASSERT_FALSE(store.has_value());
  EXPECT_THAT(store.error(), HasSubstr(path.string()));
  EXPECT_THAT(store.error(), HasSubstr("cannot open"));
}

std::string try_write(const std::filesystem::path& path) {
  auto rw = open_sqlite_store(path, OpenMode::kReadWrite);
  if (!rw) return rw.error();
  auto added = (*rw)->append(sample_record("intruder", at_s(1'800'000'000)));
  return added ? "written" : added.error();
}

std::string try_list(const std::filesystem::path& path) {
  auto ro = open_sqlite_store(path, OpenMode::kReadOnly);
  if (!ro) return ro.error();
  auto jobs = (*ro)->list_jobs({});
  return jobs ? fmt::format("listed {}", jobs->size()) : jobs.error();
}

TEST(SqliteSchema, AReadOnlyLedgerIsRefusedForWritingAndStillListed) {
  ASSERT_EQ(geteuid(), 0u) << "this test needs root to switch to an unprivileged user";
  TempDir dir;
  const auto path = dir / "ledger.db";
  make_ledger(path, 2);
  ASSERT_EQ(chmod(path.c_str(), 0444), 0);
  // The directory is writable to all, as /tmp is: only the ledger itself is denied.
  ASSERT_EQ(chmod(dir.path().c_str(), 01777), 0);
  const std::string before = ledger_bytes(path);

  const std::string write_error =
      jobcarbon::testing::run_unprivileged([&] { return try_write(path); }).output;
  EXPECT_THAT(write_error, HasSubstr(path.string()));
  EXPECT_THAT(write_error, HasSubstr("read-only for this user (uid 65534)"));
  EXPECT_EQ(jobcarbon::testing::run_unprivileged([&] { return try_list(path); }).output,
            "listed 2");
  EXPECT_EQ(ledger_bytes(path), before);
}

// Another user's ledger in a directory we may not write: no -shm can be made, so it is read as
// an immutable file (it has no -wal: everything is in the file).
TEST(SqliteSchema, ALedgerInAnUnwritableDirectoryIsStillListed) {
  ASSERT_EQ(geteuid(), 0u) << "this test needs root to switch to an unprivileged user";
  TempDir dir;
  const auto sub = dir / "system ledger%?#";  // characters a URI filename must escape
  std::filesystem::create_directory(sub);
  const auto path = sub / "ledger.db";
  make_ledger(path, 3);
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  ASSERT_EQ(chmod(sub.c_str(), 0755), 0);
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  ASSERT_FALSE(std::filesystem::exists(path.string() + "-wal"));
  const std::string before = ledger_bytes(path);

  EXPECT_EQ(jobcarbon::testing::run_unprivileged([&] { return try_list(path); }).output,
            "listed 3");
  const std::string write_error =
      jobcarbon::testing::run_unprivileged([&] { return try_write(path); }).output;
  EXPECT_THAT(write_error, HasSubstr(path.string()));
  EXPECT_THAT(write_error, HasSubstr("read-only"));
  EXPECT_EQ(ledger_bytes(path), before);
  EXPECT_EQ(names_in(sub), std::vector<std::string>{"ledger.db"});
}

}  // namespace
}  // namespace jobcarbon::ledger
