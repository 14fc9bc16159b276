// Ledger URLs, the default location and which ledger wins.
#include <jobcarbon/ledger/store.hpp>

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::ledger {
namespace {

using jobcarbon::testing::TempDir;
using ::testing::HasSubstr;

std::string sqlite_path(const std::string& url) {
  auto loc = parse_ledger_url(url);
  if (!loc) return "error: " + loc.error();
  if (loc->backend != LedgerLocation::Backend::kSqlite) return "not sqlite";
  return loc->path.string();
}

TEST(ParseLedgerUrl, SqliteForms) {
  EXPECT_EQ(sqlite_path("sqlite:////var/lib/jobcarbon/ledger.db"), "/var/lib/jobcarbon/ledger.db");
  EXPECT_EQ(sqlite_path("sqlite:///rel/ledger.db"), "rel/ledger.db");
  EXPECT_EQ(sqlite_path("sqlite:ledger.db"), "ledger.db");
  EXPECT_EQ(sqlite_path("sqlite:/abs/ledger.db"), "/abs/ledger.db");
  EXPECT_EQ(sqlite_path("/home/ada/ledger.db"), "/home/ada/ledger.db");
  EXPECT_EQ(sqlite_path("ledger.db"), "ledger.db");
  EXPECT_EQ(sqlite_path("runs/a:b.db"), "runs/a:b.db");  // a colon in a plain path is a path
  EXPECT_EQ(sqlite_path("a:b.db"), "a:b.db");
}

TEST(ParseLedgerUrl, Errors) {
  EXPECT_THAT(sqlite_path(""), HasSubstr("empty ledger path"));
  EXPECT_THAT(sqlite_path("sqlite:"), HasSubstr("no file path"));
  EXPECT_THAT(sqlite_path("sqlite:///"), HasSubstr("no file path"));
  EXPECT_THAT(sqlite_path("sqlite://host/x.db"), HasSubstr("names no host"));
  EXPECT_THAT(sqlite_path("mysql://db/ledger"), HasSubstr("unknown scheme 'mysql'"));
}

TEST(ParseLedgerUrl, Postgresql) {
  for (const std::string url : {"postgresql://ledger.example.org/jobcarbon", "postgres://x/y",
                                "postgresql:///jobcarbon?service=site"}) {
    auto loc = parse_ledger_url(url);
    ASSERT_TRUE(loc.has_value()) << loc.error();
    EXPECT_EQ(loc->backend, LedgerLocation::Backend::kPostgresql);
    EXPECT_EQ(loc->url, url);
  }
}

TEST(OpenStore, PostgresqlUrlsOpenThePostgresqlBackend) {
  // Nothing listens on port 1: the PostgreSQL backend answers, naming the ledger.
  auto store = open_store("postgresql://127.0.0.1:1/jobcarbon");
  ASSERT_FALSE(store.has_value());
  EXPECT_THAT(store.error(), HasSubstr("postgresql://127.0.0.1:1/jobcarbon: cannot connect"));
}

TEST(OpenStore, OpensSqliteByUrlAndByPath) {
  TempDir dir;
  auto by_url = open_store("sqlite:///" + (dir / "a.db").string());
  ASSERT_TRUE(by_url.has_value()) << by_url.error();
  EXPECT_EQ((*by_url)->describe(), "sqlite:" + (dir / "a.db").string());
  auto by_path = open_store((dir / "b.db").string());
  ASSERT_TRUE(by_path.has_value()) << by_path.error();
  EXPECT_TRUE(std::filesystem::exists(dir / "b.db"));
}

TEST(DefaultLedgerPath, PrefersAnAbsoluteXdgDataHomeAndCreatesPrivateDirectories) {
  TempDir dir;
  const auto xdg = dir / "data";
  auto p = default_ledger_path({std::nullopt, xdg.string(), (dir / "home").string()});
  ASSERT_TRUE(p.has_value()) << p.error();
  EXPECT_EQ(*p, xdg / "jobcarbon" / "ledger.db");
  struct stat st {};
  ASSERT_EQ(stat((xdg / "jobcarbon").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(xdg.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_FALSE(std::filesystem::exists(*p));  // the ledger itself is made by open_store
}

TEST(DefaultLedgerPath, FallsBackToHomeWhenXdgIsUnsetEmptyOrRelative) {
  TempDir dir;
  const auto home = dir / "home";
  std::filesystem::create_directory(home);
  const auto expected = home / ".local" / "share" / "jobcarbon" / "ledger.db";
  for (std::optional<std::string> xdg :
       {std::optional<std::string>{}, std::optional<std::string>{""},
        std::optional<std::string>{"relative/data"}}) {
    auto p = default_ledger_path({std::nullopt, xdg, home.string()});
    ASSERT_TRUE(p.has_value()) << p.error();
    EXPECT_EQ(*p, expected);
  }
  EXPECT_FALSE(std::filesystem::exists("relative"));
}

TEST(DefaultLedgerPath, ErrorsWithoutAnyDirectory) {
  auto p = default_ledger_path({std::nullopt, std::nullopt, std::nullopt});
  ASSERT_FALSE(p.has_value());
  EXPECT_THAT(p.error(), HasSubstr("--ledger"));
  TempDir dir;
  std::ofstream(dir / "file") << "x";  // a file where a directory must go
  p = default_ledger_path({std::nullopt, (dir / "file").string(), std::nullopt});
  ASSERT_FALSE(p.has_value());
  EXPECT_THAT(p.error(), HasSubstr((dir / "file").string()));
}

TEST(ResolveLedger, FlagThenEnvironmentThenConfigThenDefault) {
  TempDir dir;
  const LedgerEnvironment env{"/env/ledger.db", (dir / "xdg").string(), std::nullopt};
  EXPECT_EQ(resolve_ledger("/flag.db", "/config.db", env), "/flag.db");
  EXPECT_EQ(resolve_ledger(std::nullopt, "/config.db", env), "/env/ledger.db");
  LedgerEnvironment no_var = env;
  no_var.jobcarbon_ledger = "";  // set but empty counts as unset
  EXPECT_EQ(resolve_ledger("", "/config.db", no_var), "/config.db");
  EXPECT_EQ(resolve_ledger(std::nullopt, std::nullopt, no_var),
            (dir / "xdg" / "jobcarbon" / "ledger.db").string());
}

TEST(InvalidField, NamesTheField) {
  JobRecord r = testing::sample_record("1", testing::at_s(1'700'000'000));
  EXPECT_EQ(invalid_field(r), std::nullopt);
  r.node = "";
  EXPECT_EQ(invalid_field(r), "node is empty");
  r = testing::sample_record("1", testing::at_s(1'700'000'000));
  r.end = r.start - std::chrono::seconds(1);
  EXPECT_EQ(invalid_field(r), "end is before start");
}

}  // namespace
}  // namespace jobcarbon::ledger
