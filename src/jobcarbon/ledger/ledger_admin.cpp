#include <jobcarbon/ledger/ledger_admin.hpp>

#include <fmt/format.h>

#include <jobcarbon/ledger/migrations.hpp>
#include <jobcarbon/ledger/pg_connection.hpp>
#include <jobcarbon/ledger/pg_schema.hpp>
#include <jobcarbon/ledger/pg_store.hpp>
#include <jobcarbon/ledger/sqlite_connection.hpp>
#include <jobcarbon/ledger/sqlite_store.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::ledger {
namespace {

std::expected<LedgerStatus, std::string> sqlite_status(const std::filesystem::path& path) {
  // Through the Store first: it refuses what is not a ledger, or one we cannot use.
  auto store = open_sqlite_store(path, OpenMode::kReadOnly);
  if (!store) return std::unexpected(store.error());
  LedgerStatus s;
  s.backend = "sqlite";
  s.ledger = (*store)->describe();
  s.schema_version = (*store)->schema_version();
  s.known_version = latest_schema_version();
  auto db = SqliteConnection::open(path, SQLITE_OPEN_READONLY);
  if (!db) return std::unexpected(db.error());
  const auto query = [&db](const char* sql, auto& out) -> std::expected<void, std::string> {
    auto v = db->query_int(sql);
    if (!v) return std::unexpected(v.error());
    out = static_cast<std::remove_reference_t<decltype(out)>>(*v);
    return {};
  };
  for (auto r : {query("SELECT max(oldest_compatible) FROM schema_migrations", s.oldest_compatible),
                 query("SELECT count(*) FROM jobs", s.records),
                 query("SELECT count(*) FROM budgets", s.budgets)}) {
    if (!r) return std::unexpected(r.error());
  }
  return s;
}

std::expected<LedgerStatus, std::string> pg_status(PgConnection& db) {
  auto state = read_pg_schema_state(db);
  if (!state) return std::unexpected(state.error());
  auto counts = db.exec(
      "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM budgets), "
      "(SELECT value FROM settings WHERE key = 'private_data')");
  if (!counts) return std::unexpected(counts.error().message);
  LedgerStatus s;
  s.backend = "postgresql";
  s.ledger = db.describe();
  s.schema_version = state->version;
  s.oldest_compatible = state->oldest_compatible;
  s.known_version = latest_schema_version();
  s.records = counts->int64(0, 0);
  s.budgets = counts->int64(0, 1);
  s.private_data = counts->text(0, 2) == "on";
  return s;
}

}  // namespace

std::expected<LedgerStatus, std::string> init_ledger(const std::string& url,
                                                     std::optional<bool> private_data) {
  auto where = parse_ledger_url(url);
  if (!where) return std::unexpected(where.error());
  if (where->backend == LedgerLocation::Backend::kSqlite) {
    if (private_data) {
      return std::unexpected(fmt::format(
          "{}: --private-data is a PostgreSQL ledger setting; who may read an SQLite ledger is "
          "decided by its file's permissions. Nothing was changed",
          where->path.string()));
    }
    auto store = open_sqlite_store(where->path, OpenMode::kReadWrite);
    if (!store) return std::unexpected(store.error());
    store->reset();
    return sqlite_status(where->path);
  }
  auto db = connect_pg_ledger(where->url, OpenMode::kReadWrite, /*prepare=*/true);
  if (!db) return std::unexpected(db.error());
  if (private_data) {
    auto set = (*db)->exec("UPDATE settings SET value = $1 WHERE key = 'private_data'",
                           PgParams().add(*private_data ? "on" : "off"));
    if (!set) {
      if (set.error().sqlstate == "42501") {
        return std::unexpected(fmt::format(
            "{}: role '{}' may not change the private-data setting: it is changed by the "
            "ledger's owner or members of jobcarbon_admin",
            (*db)->describe(), (*db)->user()));
      }
      return std::unexpected(set.error().message);
    }
  }
  return pg_status(**db);
}

std::expected<LedgerStatus, std::string> ledger_status(const std::string& url) {
  auto where = parse_ledger_url(url);
  if (!where) return std::unexpected(where.error());
  if (where->backend == LedgerLocation::Backend::kSqlite) return sqlite_status(where->path);
  auto db = connect_pg_ledger(where->url, OpenMode::kReadOnly, /*prepare=*/true);
  if (!db) return std::unexpected(db.error());
  return pg_status(**db);
}

}  // namespace jobcarbon::ledger
