#include <jobcarbon/ledger/pg_schema.hpp>

#include <fmt/format.h>

#include <jobcarbon/ledger/migrations.hpp>
#include <jobcarbon/ledger/pg_migrations.hpp>

namespace jobcarbon::ledger {
namespace {

// The advisory lock that serialises migrations (per database): "JCBL", as SQLite's application_id.
constexpr std::int64_t kMigrationLock = kApplicationId;

// Create each missing group role. Each CREATE in its own block: another database of the same
// cluster may create the same role at the same moment (roles are cluster-wide).
constexpr std::string_view kCreateRoles = R"sql(
DO $roles$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['jobcarbon_admin', 'jobcarbon_writer', 'jobcarbon_reader'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
END
$roles$)sql";

std::string newer_error(const PgConnection& db, const PgSchemaState& s) {
  return fmt::format(
      "{}: the ledger's schema is version {}, newer than this jobcarbon ({}) knows (up to "
      "version {}), and it needs a jobcarbon that knows version {} or newer; upgrade jobcarbon "
      "to use it. The ledger was not changed",
      db.describe(), s.version, JOBCARBON_VERSION, latest_schema_version(), s.oldest_compatible);
}

// Apply the pending migrations in one transaction; return the version reached.
std::expected<int, std::string> migrate(PgConnection& db) {
  auto fail = [&db](std::string message) -> std::expected<int, std::string> {
    if (db.in_transaction()) (void)db.exec("ROLLBACK");
    return std::unexpected(std::move(message));
  };
  if (auto b = db.exec("BEGIN"); !b) return fail(b.error().message);
  if (auto l = db.exec("SELECT pg_advisory_xact_lock($1)", PgParams().add(kMigrationLock)); !l) {
    return fail(l.error().message);
  }
  // Another process may have migrated while we waited for the lock.
  auto state = read_pg_schema_state(db);
  if (!state) return fail(state.error());
  const int latest = latest_schema_version();
  if (state->version >= latest) {
    (void)db.exec("COMMIT");
    if (state->oldest_compatible > latest) return std::unexpected(newer_error(db, *state));
    return state->version;
  }
  if (auto r = db.exec(kCreateRoles); !r) {
    if (r.error().sqlstate == "42501") {
      return fail(fmt::format(
          "{}: the group roles jobcarbon_admin, jobcarbon_writer and jobcarbon_reader do not "
          "exist and this role may not create them ({}); run `jobcarbon ledger init` once as a "
          "role with CREATEROLE (e.g. the database superuser). Nothing was changed",
          db.describe(), r.error().message));
    }
    return fail(r.error().message);
  }
  if (auto s = db.exec("CREATE SCHEMA IF NOT EXISTS jobcarbon"); !s) {
    return fail(
        fmt::format("{}; this role may not create the schema jobcarbon: run `jobcarbon "
                    "ledger init` as the database owner. Nothing was changed",
                    s.error().message));
  }
  for (const auto& m : pg_migrations()) {
    if (m.version <= state->version) continue;
    if (auto r = db.exec(m.sql); !r) {
      return fail(fmt::format("{} (migration {}); nothing was changed", r.error().message, m.name));
    }
    auto rec = db.exec(
        "INSERT INTO schema_migrations (version, name, oldest_compatible, applied_by) "
        "VALUES ($1, $2, $3, $4)",
        PgParams()
            .add(m.version)
            .add(m.name)
            .add(m.oldest_compatible)
            .add("jobcarbon " JOBCARBON_VERSION));
    if (!rec) return fail(rec.error().message);
  }
  if (auto c = db.exec("COMMIT"); !c) return fail(c.error().message);
  return latest;
}

}  // namespace

std::expected<PgSchemaState, std::string> read_pg_schema_state(PgConnection& db) {
  auto where = db.exec(
      "SELECT to_regclass('jobcarbon.schema_migrations') IS NOT NULL, "
      "(SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
      "ON n.oid = c.relnamespace WHERE n.nspname = 'jobcarbon')");
  if (!where) return std::unexpected(where.error().message);
  if (where->text(0, 0) != "t") {
    if (where->int64(0, 1) > 0) {
      return std::unexpected(fmt::format(
          "{}: the schema jobcarbon holds tables but no schema_migrations: not a jobcarbon "
          "ledger; nothing was changed",
          db.describe()));
    }
    return PgSchemaState{};
  }
  auto v = db.exec(
      "SELECT coalesce(max(version), 0), coalesce(max(oldest_compatible), 0) "
      "FROM schema_migrations");
  if (!v) return std::unexpected(v.error().message);
  return PgSchemaState{static_cast<int>(v->int64(0, 0)), static_cast<int>(v->int64(0, 1))};
}

std::expected<int, std::string> prepare_pg_schema(PgConnection& db, OpenMode mode) {
  auto state = read_pg_schema_state(db);
  if (!state) return std::unexpected(state.error());
  const int latest = latest_schema_version();
  if (state->version >= latest) {
    // A newer jobcarbon migrated it: usable while every migration it applied declared this
    // binary's version still compatible (additive changes).
    if (state->oldest_compatible > latest) return std::unexpected(newer_error(db, *state));
    return state->version;
  }
  if (mode == OpenMode::kReadOnly) {
    return std::unexpected(
        state->version == 0
            ? fmt::format("{}: no jobcarbon ledger in this database yet (run `jobcarbon ledger "
                          "init --ledger URL` once)",
                          db.describe())
            : fmt::format("{}: the ledger's schema is version {}, older than this jobcarbon's "
                          "{}; run `jobcarbon ledger init` to migrate it",
                          db.describe(), state->version, latest));
  }
  return migrate(db);
}

}  // namespace jobcarbon::ledger
