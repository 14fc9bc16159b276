// The PostgreSQL ledger: a cluster's central ledger, one server for every node. libpq is loaded
// only here, when such a ledger is opened (pg_api.hpp). Each append is one transaction holding
// the job row, its tags and its usage totals; who may do what is enforced by the server (GRANTs
// to the roles jobcarbon_admin / _writer / _reader, row-level security for private data), so SQL
// typed by hand obeys the same rules. docs/postgresql.md.
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <string>

#include <jobcarbon/ledger/pg_api.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::ledger {

class PgConnection;

struct PgOptions {
  std::string library = kDefaultLibpq;  // libpq to load (a path or a name dlopen searches)
  // Test hook: called inside append's transaction, after the job's statement and before COMMIT,
  // with the connection (e.g. to terminate its server process from another connection).
  std::function<void(PgConnection&)> before_commit;
};

// Return a Store on the PostgreSQL ledger named by CONNINFO (libpq's own connection string: a
// postgresql:// or postgres:// URL or key=value pairs, passed through unchanged). kReadWrite
// creates the schema, roles and tables when missing and applies pending migrations; kReadOnly
// changes nothing and refuses a ledger that needs migrating. Errors name the ledger without its
// password: libpq missing, the server unreachable or refusing us, a schema newer than this binary
// can use.
std::expected<std::unique_ptr<Store>, std::string> open_pg_store(const std::string& conninfo,
                                                                 OpenMode mode,
                                                                 const PgOptions& options = {});

// Return a connection to the ledger named by CONNINFO (for `ledger init/status` and tests), with
// the schema prepared as open_pg_store does when PREPARE is true.
std::expected<std::unique_ptr<PgConnection>, std::string> connect_pg_ledger(
    const std::string& conninfo, OpenMode mode, bool prepare, const PgOptions& options = {});

}  // namespace jobcarbon::ledger
