// A thin RAII layer over libpq (through PgApi) for the PostgreSQL ledger: a connection that names
// its server in every error (without the password), results with typed columns, and parameters
// sent as text. Internal to ledger/.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <jobcarbon/ledger/pg_api.hpp>

namespace jobcarbon::ledger {

// Why a statement failed: the server's SQLSTATE ("42501" permission denied, "40P01" deadlock, ""
// when the connection itself failed) and a sentence that names the ledger.
struct PgError {
  std::string sqlstate;
  std::string message;
  bool connection_lost = false;  // the server went away (terminated, crashed, network)
};

// Query parameters, all sent as text ($1, $2, ...) so that libpq needs no type OIDs; the server
// casts them to the column types. Doubles are written shortest-exact, so they round-trip.
class PgParams {
 public:
  PgParams& add(std::string_view v);
  PgParams& add(const std::string& v) { return add(std::string_view(v)); }
  PgParams& add(const char* v) { return add(std::string_view(v)); }
  PgParams& add(std::int64_t v);
  PgParams& add(int v) { return add(static_cast<std::int64_t>(v)); }
  PgParams& add(double v);
  PgParams& add_null();
  // Add V, or NULL when it is nullopt.
  template <typename T>
  PgParams& add(const std::optional<T>& v) {
    return v ? add(*v) : add_null();
  }
  // Add an SQL array literal of texts ('{"a","b"}'), each element quoted and escaped.
  PgParams& add_text_array(const std::vector<std::string>& values);

  const std::vector<std::optional<std::string>>& values() const { return values_; }

 private:
  std::vector<std::optional<std::string>> values_;
};

// The rows a statement returned (text format).
class PgResult {
 public:
  PgResult(std::shared_ptr<const PgApi> api, PGresult* result);

  int rows() const;
  bool is_null(int row, int col) const;
  // Return the column's text, "" for NULL.
  std::string text(int row, int col) const;
  // Return the column as an integer (0 for NULL). Also reads numeric sums with no fraction.
  std::int64_t int64(int row, int col) const;
  // Return the column as a double (0 for NULL).
  double real(int row, int col) const;

 private:
  struct Clear {
    std::shared_ptr<const PgApi> api;
    void operator()(PGresult* r) const { api->clear(r); }
  };
  std::unique_ptr<PGresult, Clear> result_;
};

class PgConnection {
 public:
  // Connect with libpq's own connection string (a postgresql:// URL or key=value pairs; service
  // files and ~/.pgpass apply), passed through unchanged; connect_timeout defaults to 10 s and
  // application_name to "jobcarbon" unless the string sets them. Then set the session's
  // search_path to the ledger's schema, `jobcarbon`. Error: "<ledger>: cannot connect: <why>".
  static std::expected<PgConnection, std::string> connect(std::shared_ptr<const PgApi> api,
                                                          const std::string& conninfo);

  // Run SQL with PARAMS ($1...; one statement) or, without, SQL of one or more statements (the
  // result is the last one's). Error: the server's SQLSTATE and "<ledger>: <message>".
  std::expected<PgResult, PgError> exec(std::string_view sql, const PgParams& params);
  std::expected<PgResult, PgError> exec(std::string_view sql);
  // Run SQL (one statement) with PARAMS as a statement prepared once per connection: the server
  // plans it once, not at every call. For the queries a budget check repeats.
  std::expected<PgResult, PgError> exec_cached(std::string_view sql, const PgParams& params);

  // Return the ledger as messages name it: "postgresql://user@host[:port]/db" (never a password).
  const std::string& describe() const { return describe_; }

  // Return the role this connection logged in as (the session user).
  const std::string& user() const { return user_; }

  // Return the process id of the server process serving this connection (pg_backend_pid()).
  int backend_pid() const;

  // Return true while inside a transaction block (BEGIN without COMMIT/ROLLBACK yet).
  bool in_transaction() const;

  const std::shared_ptr<const PgApi>& api() const { return api_; }

 private:
  struct Finish {
    std::shared_ptr<const PgApi> api;
    void operator()(PGconn* c) const { api->finish(c); }
  };
  PgConnection(std::shared_ptr<const PgApi> api, PGconn* conn);
  std::expected<PgResult, PgError> check(PGresult* result);

  std::shared_ptr<const PgApi> api_;
  std::unique_ptr<PGconn, Finish> conn_;
  std::string describe_;
  std::string user_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name
};

// Return CONNINFO as messages name it, without its password: "postgresql://user@host/db", with
// "?service=NAME" when it names a service; "postgresql ledger (unreadable connection string)"
// when libpq cannot parse it.
std::string describe_conninfo(const PgApi& api, const std::string& conninfo);

}  // namespace jobcarbon::ledger
