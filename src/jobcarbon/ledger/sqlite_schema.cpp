#include <jobcarbon/ledger/sqlite_schema.hpp>

#include <thread>

#include <fmt/format.h>

#include <jobcarbon/ledger/migrations.hpp>

namespace jobcarbon::ledger {
namespace {

struct Header {
  std::int64_t user_version = 0;  // the schema version (0: nothing applied)
  std::int64_t application_id = 0;
};

// Read the two fields of the database header that say what the file is. The first read of the
// file: this is where "not a database" shows.
std::expected<Header, std::string> read_header(SqliteConnection& db) {
  auto v = db.query_int("PRAGMA user_version");
  if (!v) return std::unexpected(v.error());
  auto a = db.query_int("PRAGMA application_id");
  if (!a) return std::unexpected(a.error());
  return Header{*v, *a};
}

std::string not_ours(const SqliteConnection& db, std::int64_t application_id) {
  return fmt::format(
      "{}: an SQLite database of another program (application_id {:#x}), not a jobcarbon "
      "ledger; nothing was changed",
      db.path().string(), static_cast<std::uint32_t>(application_id));
}

// A newer jobcarbon migrated the ledger. Use it when every migration it applied declared this
// binary's version still compatible (additive changes); refuse otherwise, before any write.
std::expected<int, std::string> accept_newer(SqliteConnection& db, std::int64_t version) {
  const int known = latest_schema_version();
  auto floor = db.query_int("SELECT max(oldest_compatible) FROM schema_migrations");
  if (floor && *floor >= 1 && *floor <= known) return static_cast<int>(version);
  return std::unexpected(fmt::format(
      "{}: the ledger's schema is version {}, newer than this jobcarbon ({}) knows (up to "
      "version {}){}; upgrade jobcarbon to use it. The ledger was not changed",
      db.path().string(), version, JOBCARBON_VERSION, known,
      floor ? fmt::format(", and it needs a jobcarbon that knows version {} or newer", *floor)
            : ""));
}

// Put the ledger in WAL mode (stored in the file, so done once, at creation): readers never wait
// for the writer. Retried while another process holds the file, up to the busy timeout. A file
// system without shared memory (some network file systems) keeps the rollback journal, which is
// slower under many writers but just as correct.
std::expected<void, std::string> use_wal(SqliteConnection& db, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto stmt = db.prepare("PRAGMA journal_mode = WAL");
    if (!stmt) return std::unexpected(stmt.error());
    const int rc = stmt->step();
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return {};
    const int primary = rc & 0xff;
    if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) ||
        std::chrono::steady_clock::now() > deadline) {
      return std::unexpected(db.error(rc));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Apply the pending migrations in one IMMEDIATE transaction: a ledger is at its old version or
// the latest, never in between. Return the version reached.
std::expected<int, std::string> migrate(SqliteConnection& db) {
  if (auto b = db.exec("BEGIN IMMEDIATE"); !b) return std::unexpected(b.error());
  auto fail = [&db](std::string message) -> std::expected<int, std::string> {
    (void)db.exec("ROLLBACK");
    return std::unexpected(std::move(message));
  };
  // Another process may have migrated while we waited for the lock.
  auto header = read_header(db);
  if (!header) return fail(header.error());
  const int latest = latest_schema_version();
  if (header->user_version >= latest) {
    (void)db.exec("COMMIT");
    if (header->user_version > latest) return accept_newer(db, header->user_version);
    return latest;
  }
  for (const auto& m : sqlite_migrations()) {
    if (m.version <= header->user_version) continue;
    if (auto r = db.exec(std::string(m.sql).c_str()); !r) {
      return fail(fmt::format("{} (migration {})", r.error(), m.name));
    }
    auto rec = db.prepare(
        "INSERT INTO schema_migrations (version, name, oldest_compatible, applied_by) "
        "VALUES (?1, ?2, ?3, ?4)");
    if (!rec) return fail(rec.error());
    rec->bind(1, m.version);
    rec->bind(2, m.name);
    rec->bind(3, m.oldest_compatible);
    rec->bind(4, std::string_view("jobcarbon " JOBCARBON_VERSION));
    if (const int rc = rec->step(); rc != SQLITE_DONE) return fail(db.error(rc));
  }
  const std::string stamp =
      fmt::format("PRAGMA user_version = {}; PRAGMA application_id = {}", latest, kApplicationId);
  if (auto r = db.exec(stamp.c_str()); !r) return fail(r.error());
  if (auto c = db.exec("COMMIT"); !c) return fail(c.error());
  return latest;
}

}  // namespace

std::expected<int, std::string> prepare_schema(SqliteConnection& db, OpenMode mode,
                                               std::chrono::milliseconds busy_timeout) {
  auto header = read_header(db);
  if (!header) return std::unexpected(header.error());
  const int latest = latest_schema_version();
  if (header->user_version > 0 && header->application_id != kApplicationId) {
    return std::unexpected(not_ours(db, header->application_id));
  }
  if (header->user_version == latest) return latest;  // the common case: nothing more to read
  if (header->user_version > latest) return accept_newer(db, header->user_version);

  if (header->user_version == 0) {
    // Never migrate into someone else's database: a jobcarbon ledger at version 0 is empty. The
    // version and the tables are read in one snapshot: another process may be creating this
    // ledger right now, and its tables with the version 0 read before its commit would look like
    // another program's database.
    if (auto b = db.exec("BEGIN"); !b) return std::unexpected(b.error());
    auto again = read_header(db);
    auto objects = db.query_int("SELECT count(*) FROM sqlite_schema");
    (void)db.exec("COMMIT");
    if (!again) return std::unexpected(again.error());
    if (!objects) return std::unexpected(objects.error());
    if (again->user_version != 0) return prepare_schema(db, mode, busy_timeout);
    if (*objects > 0) {
      if (header->application_id != 0 && header->application_id != kApplicationId) {
        return std::unexpected(not_ours(db, header->application_id));
      }
      return std::unexpected(fmt::format(
          "{}: an SQLite database with tables but no jobcarbon schema version: not a jobcarbon "
          "ledger; nothing was changed",
          db.path().string()));
    }
  }
  if (mode == OpenMode::kReadOnly) {
    return std::unexpected(
        header->user_version == 0
            ? fmt::format("{}: an empty ledger (nothing recorded yet)", db.path().string())
            : fmt::format(
                  "{}: the ledger's schema is version {}, older than this jobcarbon's {}; open "
                  "it once for writing (any `jobcarbon run`) to migrate it",
                  db.path().string(), header->user_version, latest));
  }
  if (auto w = use_wal(db, busy_timeout); !w) return std::unexpected(w.error());
  return migrate(db);
}

}  // namespace jobcarbon::ledger
