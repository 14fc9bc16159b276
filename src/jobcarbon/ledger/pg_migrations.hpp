// The PostgreSQL ledger's schema as numbered migrations, with the same versions and meaning as
// the SQLite ones (migrations.hpp: 1 jobs, 2 budgets) so that schema_version() means the same on
// both backends. Everything lives in the schema `jobcarbon`; the migrations also GRANT each table
// to the three group roles and set up row-level security (docs/postgresql.md). Internal to ledger/.
#pragma once

#include <span>
#include <string_view>

#include <jobcarbon/ledger/migrations.hpp>

namespace jobcarbon::ledger {

// The NOLOGIN group roles a site GRANTs to its login roles.
inline constexpr std::string_view kAdminRole = "jobcarbon_admin";    // budgets, hierarchy, settings
inline constexpr std::string_view kWriterRole = "jobcarbon_writer";  // agents: append jobs
inline constexpr std::string_view kReaderRole = "jobcarbon_reader";  // reports, budget checks

// Return the PostgreSQL migrations in order; element i has version i + 1, and the same version,
// name and oldest_compatible as sqlite_migrations()[i].
std::span<const Migration> pg_migrations();

}  // namespace jobcarbon::ledger
