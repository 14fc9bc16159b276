// Bringing a PostgreSQL ledger's schema to a version this binary can use: create the schema
// `jobcarbon`, the three group roles and the tables on first use, run pending migrations, refuse a
// schema that is newer and declared incompatible. Internal to ledger/.
#pragma once

#include <expected>
#include <string>

#include <jobcarbon/ledger/pg_connection.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::ledger {

// The schema version of the ledger behind a connection.
struct PgSchemaState {
  int version = 0;            // 0: no jobcarbon schema yet
  int oldest_compatible = 0;  // max(oldest_compatible) of the applied migrations
};

// Return the version and oldest compatible version recorded in jobcarbon.schema_migrations
// (zeros when there is none). Error: another program's objects in a schema named jobcarbon
// without schema_migrations, or the server's errors.
std::expected<PgSchemaState, std::string> read_pg_schema_state(PgConnection& db);

// Return the schema version of the ledger behind db, ready for use. An up-to-date ledger costs two
// small queries. kReadWrite applies the pending migrations in one transaction under a
// transaction-scoped advisory lock, so hundreds of agents opening a new ledger at once apply each
// migration exactly once; it first creates the NOLOGIN roles jobcarbon_admin, jobcarbon_writer
// and jobcarbon_reader when missing (error, nothing changed, when they are missing and this role
// may not create them). kReadOnly refuses a ledger that needs migrating. Errors name the ledger
// and leave it unchanged: a schema newer than this binary can use (both versions named), a
// jobcarbon schema that is not a ledger, no privilege to create the schema.
std::expected<int, std::string> prepare_pg_schema(PgConnection& db, OpenMode mode);

}  // namespace jobcarbon::ledger
