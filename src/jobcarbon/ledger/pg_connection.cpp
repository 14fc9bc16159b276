#include <jobcarbon/ledger/pg_connection.hpp>

#include <cctype>
#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

namespace jobcarbon::ledger {
namespace {

// Return libpq's multi-line message as one line: "FATAL:  x\nDETAIL: y\n" → "x; y".
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\t') continue;
    if (c == '\n') {
      if (!out.empty() && out.back() != ' ') out += "; ";
    } else {
      out += c;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  for (std::string_view prefix : {"FATAL:  ", "ERROR:  "}) {
    if (std::string_view(out).starts_with(prefix)) out.erase(0, prefix.size());
  }
  return out;
}

// Percent-encode a host that is a socket directory, so the description stays a valid URL.
std::string url_host(std::string_view host) {
  std::string out;
  for (unsigned char c : host) {
    if (std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string describe_parts(std::string_view user, std::string_view host, std::string_view port,
                           std::string_view db, std::string_view service) {
  std::string out = "postgresql://";
  if (!user.empty()) out += fmt::format("{}@", user);
  out += url_host(host);
  if (!port.empty() && port != "5432") out += fmt::format(":{}", port);
  out += fmt::format("/{}", db);
  if (!service.empty()) out += fmt::format("?service={}", service);
  return out;
}

}  // namespace

PgParams& PgParams::add(std::string_view v) {
  values_.emplace_back(std::string(v));
  return *this;
}

PgParams& PgParams::add(std::int64_t v) {
  values_.emplace_back(std::to_string(v));
  return *this;
}

PgParams& PgParams::add(double v) {
  values_.emplace_back(fmt::format("{}", v));
  return *this;
}

PgParams& PgParams::add_null() {
  values_.emplace_back(std::nullopt);
  return *this;
}

PgParams& PgParams::add_text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  values_.emplace_back(std::move(out));
  return *this;
}

PgResult::PgResult(std::shared_ptr<const PgApi> api, PGresult* result)
    : result_(result, Clear{std::move(api)}) {}

int PgResult::rows() const {
  return result_.get_deleter().api->ntuples(result_.get());
}

bool PgResult::is_null(int row, int col) const {
  return result_.get_deleter().api->getisnull(result_.get(), row, col) == 1;
}

std::string PgResult::text(int row, int col) const {
  const auto& api = *result_.get_deleter().api;
  const char* v = api.getvalue(result_.get(), row, col);
  if (v == nullptr) return {};
  return std::string(v, static_cast<std::size_t>(api.getlength(result_.get(), row, col)));
}

std::int64_t PgResult::int64(int row, int col) const {
  const std::string t = text(row, col);
  std::int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);  // a numeric "123" or "123.000" reads 123
  return v;
}

double PgResult::real(int row, int col) const {
  const std::string t = text(row, col);
  if (t.empty()) return 0;
  return std::strtod(t.c_str(), nullptr);  // also "Infinity", "NaN" as the server writes them
}

PgConnection::PgConnection(std::shared_ptr<const PgApi> api, PGconn* conn)
    : api_(api), conn_(conn, Finish{api}) {
  auto part = [](const char* s) { return s ? std::string_view(s) : std::string_view(); };
  user_ = part(api_->user(conn));
  describe_ = describe_parts(part(api_->user(conn)), part(api_->host(conn)), part(api_->port(conn)),
                             part(api_->db(conn)), {});
}

std::expected<PgConnection, std::string> PgConnection::connect(std::shared_ptr<const PgApi> api,
                                                               const std::string& conninfo) {
  // Our defaults come first: a later keyword overrides an earlier one, and dbname expands into
  // everything the user's string says.
  const char* keys[] = {"connect_timeout", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {"10", "jobcarbon", conninfo.c_str(), nullptr};
  PGconn* conn = api->connectdb_params(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) {
    return std::unexpected(
        fmt::format("{}: cannot connect: out of memory", describe_conninfo(*api, conninfo)));
  }
  if (api->status(conn) != CONNECTION_OK) {
    std::string why = one_line(api->error_message(conn));
    api->finish(conn);
    return std::unexpected(
        fmt::format("{}: cannot connect: {}", describe_conninfo(*api, conninfo), why));
  }
  PgConnection c(std::move(api), conn);
  // NOTICEs ("schema exists, skipping") would go to stderr; only warnings and errors matter.
  if (auto s = c.exec("SET search_path = jobcarbon; SET client_min_messages = warning"); !s) {
    return std::unexpected(s.error().message);
  }
  return c;
}

std::expected<PgResult, PgError> PgConnection::check(PGresult* result) {
  const ExecStatusType st = result ? api_->result_status(result) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return PgResult(api_, result);
  PgError e;
  const char* state = result ? api_->result_error_field(result, PG_DIAG_SQLSTATE) : nullptr;
  e.sqlstate = state ? state : "";
  const char* text = result ? api_->result_error_message(result) : nullptr;
  std::string why = one_line(text && *text ? text : api_->error_message(conn_.get()));
  if (result) api_->clear(result);
  e.connection_lost = api_->status(conn_.get()) == CONNECTION_BAD;
  if (e.connection_lost) {
    e.message = fmt::format(
        "{}: the connection to the server was lost ({}); the transaction was not committed, so "
        "nothing of it was written",
        describe_, why);
  } else {
    e.message = fmt::format("{}: {}", describe_, why);
  }
  return std::unexpected(std::move(e));
}

std::expected<PgResult, PgError> PgConnection::exec(std::string_view sql, const PgParams& params) {
  const std::string text(sql);
  std::vector<const char*> values;
  values.reserve(params.values().size());
  for (const auto& v : params.values()) values.push_back(v ? v->c_str() : nullptr);
  return check(api_->exec_params(conn_.get(), text.c_str(), static_cast<int>(values.size()),
                                 nullptr, values.data(), nullptr, nullptr, 0));
}

std::expected<PgResult, PgError> PgConnection::exec_cached(std::string_view sql,
                                                           const PgParams& params) {
  const std::string text(sql);
  auto it = prepared_.find(text);
  if (it == prepared_.end()) {
    std::string name = "jobcarbon_" + std::to_string(prepared_.size() + 1);
    auto made = check(api_->prepare(conn_.get(), name.c_str(), text.c_str(),
                                    static_cast<int>(params.values().size()), nullptr));
    if (!made) return std::unexpected(made.error());
    it = prepared_.emplace(text, std::move(name)).first;
  }
  std::vector<const char*> values;
  values.reserve(params.values().size());
  for (const auto& v : params.values()) values.push_back(v ? v->c_str() : nullptr);
  return check(api_->exec_prepared(conn_.get(), it->second.c_str(), static_cast<int>(values.size()),
                                   values.data(), nullptr, nullptr, 0));
}

std::expected<PgResult, PgError> PgConnection::exec(std::string_view sql) {
  const std::string text(sql);
  return check(api_->exec(conn_.get(), text.c_str()));
}

int PgConnection::backend_pid() const {
  return api_->backend_pid(conn_.get());
}

bool PgConnection::in_transaction() const {
  const auto st = api_->transaction_status(conn_.get());
  return st == PQTRANS_INTRANS || st == PQTRANS_INERROR || st == PQTRANS_ACTIVE;
}

std::string describe_conninfo(const PgApi& api, const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = api.conninfo_parse(conninfo.c_str(), &err);
  if (err != nullptr) api.freemem(err);
  if (opts == nullptr) return "postgresql ledger (unreadable connection string)";
  std::string user, host, port, db, service;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view k = o->keyword;
    if (k == "user") user = o->val;
    if (k == "host" || (k == "hostaddr" && host.empty())) host = o->val;
    if (k == "port") port = o->val;
    if (k == "dbname") db = o->val;
    if (k == "service") service = o->val;
  }
  api.conninfo_free(opts);
  return describe_parts(user, host, port, db, service);
}

}  // namespace jobcarbon::ledger
