// For the PostgreSQL ledger tests: a fresh database per test on the local server (CREATE DATABASE
// jc_test_<pid>_<n>, dropped afterwards), raw SQL on it as the superuser, and login roles made
// for one test. scripts/start-postgres.sh starts the server and makes the invoking user a
// superuser. When the server cannot be reached the test is skipped with a message saying so,
// except under CI=true, where it fails: CI must not pass without having run them.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <jobcarbon/ledger/pg_connection.hpp>
#include <jobcarbon/testing/ci.hpp>

namespace jobcarbon::ledger::testing {

// One fresh database, dropped (with the roles made by login_role) when destroyed.
class PgTestDatabase {
 public:
  // Return a new empty database, or why none could be made (the server is not reachable).
  static std::expected<std::unique_ptr<PgTestDatabase>, std::string> create() {
    auto api = PgApi::load();
    if (!api) return std::unexpected(api.error());
    auto admin = PgConnection::connect(*api, "dbname=postgres");
    if (!admin) return std::unexpected(admin.error());
    static int counter = 0;
    const std::string name = fmt::format("jc_test_{}_{}", ::getpid(), ++counter);
    if (auto r = admin->exec(fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)); !r) {
      return std::unexpected(r.error().message);
    }
    if (auto r = admin->exec(fmt::format("CREATE DATABASE {}", name)); !r) {
      return std::unexpected(r.error().message);
    }
    auto db = std::unique_ptr<PgTestDatabase>(new PgTestDatabase(*api, std::move(*admin), name));
    return db;
  }

  PgTestDatabase(const PgTestDatabase&) = delete;
  PgTestDatabase& operator=(const PgTestDatabase&) = delete;

  ~PgTestDatabase() {
    raw_.reset();
    (void)admin_.exec(fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", name_));
    for (const auto& role : roles_) (void)admin_.exec(fmt::format("DROP ROLE IF EXISTS {}", role));
  }

  const std::string& name() const { return name_; }

  // The ledger URL of this database as the invoking (super)user over the local socket.
  std::string url() const { return "postgresql:///" + name_; }

  // Return a connection string for this database as a new LOGIN role (password "pw", over TCP on
  // 127.0.0.1, where the server asks for passwords) that is a member of GROUP ("" for none). The
  // role is dropped with the database.
  std::string login_role(const std::string& suffix, const std::string& group) {
    const std::string role = fmt::format("{}_{}", name_, suffix);
    exec_admin(fmt::format("DROP ROLE IF EXISTS {}", role));
    exec_admin(fmt::format("CREATE ROLE {} LOGIN PASSWORD 'pw'", role));
    roles_.push_back(role);
    if (!group.empty()) exec_admin(fmt::format("GRANT {} TO {}", group, role));
    return fmt::format("postgresql://{}:pw@127.0.0.1/{}", role, name_);
  }

  // Return the role name login_role(suffix, ...) made.
  std::string role_name(const std::string& suffix) const {
    return fmt::format("{}_{}", name_, suffix);
  }

  // Run SQL on this database as the superuser (search_path jobcarbon). Throws on error.
  void exec(const std::string& sql) {
    if (auto r = raw().exec(sql); !r) throw std::runtime_error(sql + ": " + r.error().message);
  }

  // Return the first column of the first row SQL returns, as an integer; -1 when there is no row.
  std::int64_t raw_int(const std::string& sql) {
    auto r = raw().exec(sql);
    if (!r) throw std::runtime_error(sql + ": " + r.error().message);
    return r->rows() == 0 ? -1 : r->int64(0, 0);
  }

  // Return the first column of the first row SQL returns, as text ("" for none or NULL).
  std::string raw_text(const std::string& sql) {
    auto r = raw().exec(sql);
    if (!r) throw std::runtime_error(sql + ": " + r.error().message);
    return r->rows() == 0 ? "" : r->text(0, 0);
  }

  // Return the connection the raw_* calls use (opened on first use).
  PgConnection& raw() {
    if (!raw_) {
      auto c = PgConnection::connect(api_, "dbname=" + name_);
      if (!c) throw std::runtime_error(c.error());
      raw_ = std::make_unique<PgConnection>(std::move(*c));
    }
    return *raw_;
  }

 private:
  PgTestDatabase(std::shared_ptr<const PgApi> api, PgConnection admin, std::string name)
      : api_(std::move(api)), admin_(std::move(admin)), name_(std::move(name)) {}

  void exec_admin(const std::string& sql) {
    if (auto r = admin_.exec(sql); !r) throw std::runtime_error(sql + ": " + r.error().message);
  }

  std::shared_ptr<const PgApi> api_;
  PgConnection admin_;
  std::string name_;
  std::unique_ptr<PgConnection> raw_;
  std::vector<std::string> roles_;
};

// True when the tests run in CI (CI=true), where an unreachable server is a failure.
using jobcarbon::testing::in_ci;

}  // namespace jobcarbon::ledger::testing

// In a fixture's SetUp (or a test): set PTR (a std::unique_ptr<PgTestDatabase>) to a fresh
// database, or skip the test (fail it under CI=true) saying why there is none.
#define JOBCARBON_PG_DATABASE_OR_SKIP(ptr)                                            \
  do {                                                                                \
    auto jc_created_ = ::jobcarbon::ledger::testing::PgTestDatabase::create();        \
    if (!jc_created_) {                                                               \
      if (::jobcarbon::ledger::testing::in_ci()) {                                    \
        FAIL() << "PostgreSQL is not reachable (CI=true, so this fails; run "         \
                  "scripts/start-postgres.sh): "                                      \
               << jc_created_.error();                                                \
      }                                                                               \
      GTEST_SKIP() << "PostgreSQL is not reachable (run scripts/start-postgres.sh): " \
                   << jc_created_.error();                                            \
    }                                                                                 \
    ptr = std::move(*jc_created_);                                                    \
  } while (false)
