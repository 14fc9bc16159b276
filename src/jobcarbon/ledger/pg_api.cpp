#include <jobcarbon/ledger/pg_api.hpp>

#include <fmt/format.h>

namespace jobcarbon::ledger {

std::expected<std::shared_ptr<const PgApi>, std::string> PgApi::load(const std::string& library) {
  auto lib = os::SharedLibrary::open(library);
  if (!lib) {
    return std::unexpected(fmt::format("postgresql ledger: cannot load {} (install libpq5): {}",
                                       library, lib.error()));
  }
  std::shared_ptr<PgApi> api(new PgApi(std::move(*lib)));
  std::string missing;
  const auto resolve = [&](auto& slot, const char* name) {
    using F = std::remove_pointer_t<std::remove_reference_t<decltype(slot)>>;
    auto f = api->library_.function<F>(name);
    if (f) {
      slot = *f;
    } else if (missing.empty()) {
      missing = f.error();
    }
  };
  resolve(api->connectdb_params, "PQconnectdbParams");
  resolve(api->status, "PQstatus");
  resolve(api->error_message, "PQerrorMessage");
  resolve(api->finish, "PQfinish");
  resolve(api->exec, "PQexec");
  resolve(api->exec_params, "PQexecParams");
  resolve(api->prepare, "PQprepare");
  resolve(api->exec_prepared, "PQexecPrepared");
  resolve(api->result_status, "PQresultStatus");
  resolve(api->result_error_message, "PQresultErrorMessage");
  resolve(api->result_error_field, "PQresultErrorField");
  resolve(api->clear, "PQclear");
  resolve(api->ntuples, "PQntuples");
  resolve(api->nfields, "PQnfields");
  resolve(api->getvalue, "PQgetvalue");
  resolve(api->getisnull, "PQgetisnull");
  resolve(api->getlength, "PQgetlength");
  resolve(api->backend_pid, "PQbackendPID");
  resolve(api->user, "PQuser");
  resolve(api->host, "PQhost");
  resolve(api->port, "PQport");
  resolve(api->db, "PQdb");
  resolve(api->conninfo_parse, "PQconninfoParse");
  resolve(api->conninfo_free, "PQconninfoFree");
  resolve(api->freemem, "PQfreemem");
  resolve(api->transaction_status, "PQtransactionStatus");
  if (!missing.empty()) {
    return std::unexpected(
        fmt::format("postgresql ledger: {} is not libpq ({})", library, missing));
  }
  return std::shared_ptr<const PgApi>(std::move(api));
}

}  // namespace jobcarbon::ledger
