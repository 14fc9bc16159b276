// The few libpq functions the PostgreSQL ledger calls, reached through a table of function
// pointers filled by dlsym from libpq.so.5 opened at run time (as NVML is: sensors/nvml_api.hpp).
// Linking libpq would add its start-up cost to every `jobcarbon run`, SQLite ledger or not; this
// way it is loaded only when a postgresql:// ledger is opened. libpq-fe.h supplies the types and
// signatures only: nothing here calls libpq directly. Internal to ledger/.
#pragma once

#include <libpq-fe.h>

#include <expected>
#include <memory>
#include <string>

#include <jobcarbon/os/shared_library.hpp>

namespace jobcarbon::ledger {

// The library name Debian's libpq5 installs (the unversioned .so is only in libpq-dev).
inline constexpr const char* kDefaultLibpq = "libpq.so.5";

// libpq loaded and its functions resolved. Shared (std::shared_ptr) by the connections made from
// it, so the library stays loaded while any of them is open. No process-wide instance.
class PgApi {
 public:
  // Return libpq loaded from LIBRARY with every function below resolved, or "postgresql ledger:
  // cannot load libpq.so.5 (install libpq5): <dlerror>" / "... is not libpq (<missing symbol>)".
  static std::expected<std::shared_ptr<const PgApi>, std::string> load(
      const std::string& library = kDefaultLibpq);

  // One entry per libpq function used; the name is the libpq symbol's.
  decltype(&PQconnectdbParams) connectdb_params = nullptr;
  decltype(&PQstatus) status = nullptr;
  decltype(&PQerrorMessage) error_message = nullptr;
  decltype(&PQfinish) finish = nullptr;
  decltype(&PQexec) exec = nullptr;
  decltype(&PQexecParams) exec_params = nullptr;
  decltype(&PQprepare) prepare = nullptr;
  decltype(&PQexecPrepared) exec_prepared = nullptr;
  decltype(&PQresultStatus) result_status = nullptr;
  decltype(&PQresultErrorMessage) result_error_message = nullptr;
  decltype(&PQresultErrorField) result_error_field = nullptr;
  decltype(&PQclear) clear = nullptr;
  decltype(&PQntuples) ntuples = nullptr;
  decltype(&PQnfields) nfields = nullptr;
  decltype(&PQgetvalue) getvalue = nullptr;
  decltype(&PQgetisnull) getisnull = nullptr;
  decltype(&PQgetlength) getlength = nullptr;
  decltype(&PQbackendPID) backend_pid = nullptr;
  decltype(&PQuser) user = nullptr;
  decltype(&PQhost) host = nullptr;
  decltype(&PQport) port = nullptr;
  decltype(&PQdb) db = nullptr;
  decltype(&PQconninfoParse) conninfo_parse = nullptr;
  decltype(&PQconninfoFree) conninfo_free = nullptr;
  decltype(&PQfreemem) freemem = nullptr;
  decltype(&PQtransactionStatus) transaction_status = nullptr;

 private:
  explicit PgApi(os::SharedLibrary library) : library_(std::move(library)) {}
  os::SharedLibrary library_;
};

}  // namespace jobcarbon::ledger
