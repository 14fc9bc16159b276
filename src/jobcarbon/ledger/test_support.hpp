// Helpers for the ledger tests: a fully filled job record, raw file bytes, raw SQL on a ledger
// file. (Temporary directories: jobcarbon/testing/temp_dir.hpp.)
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include <jobcarbon/ledger/job_record.hpp>

namespace jobcarbon::ledger::testing {

inline Timestamp at_s(std::int64_t seconds) {
  return Timestamp(std::chrono::seconds(seconds));
}

// A record with every field set to a distinct value. job_id and start vary per call site.
inline JobRecord sample_record(const std::string& job_id, Timestamp start) {
  JobRecord r;
  r.cluster = "local";
  r.job_id = job_id;
  r.submit_time = start - std::chrono::seconds(5);
  r.step = "";
  r.node = "gpu-node-01";
  r.user = "ada";
  r.account = "vision-lab";
  r.tags = {{"project", "resnet"}, {"stage", "train"}};
  r.start = start;
  r.end = start + std::chrono::seconds(90);
  r.exit_code = 0;
  r.command = {"/usr/bin/python3", "train.py", "--epochs", "10"};
  r.energy = DomainEnergy{Microjoules(1'000'000), Microjoules(2'000'000), Microjoules(300'000),
                          Microjoules(0),         Microjoules(0),         Microjoules(0)};
  r.energy_charged = r.energy.total();
  r.machine_energy = Microjoules(5'000'000);
  r.unallocated_energy = Microjoules(1'700'000);
  r.method = "measured";
  r.gpu_count = 1;
  r.gpu_model = "NVIDIA H100 80GB HBM3";
  r.intensity_kg_per_kwh = 0.441;
  r.intensity_zone = "DE";
  r.intensity_dataset = "eea-2016";
  r.intensity_year = 2016;
  r.pue = 1.2;
  r.co2_kg = 3.3e6 / 3.6e12 * 0.441 * 1.2;
  r.cpus = 3.5;
  r.work_count = 1'281'167.0 * 90;
  r.work_unit = "images";
  r.report_json = R"({"schema_version":1})";
  return r;
}

// A running job's provisional usage with every field set; job_id and start vary per call site.
inline RunningRecord sample_running(const std::string& job_id, Timestamp start,
                                    std::chrono::seconds so_far) {
  RunningRecord r;
  r.cluster = "hpc";
  r.job_id = job_id;
  r.submit_time = start - std::chrono::seconds(30);
  r.step = "batch";
  r.node = "gpu-node-02";
  r.user = "ada";
  r.account = "vision-lab";
  r.start = start;
  r.updated = start + so_far;
  r.energy_charged = Microjoules(so_far.count() * 400'000'000);  // 400 W
  r.co2_kg = static_cast<double>(r.energy_charged.value) / 3.6e12 * 0.4;
  r.gpu_count = 1;
  r.gpu_model = "NVIDIA H100 80GB HBM3";
  return r;
}

// Return the whole content of a file ("" when missing).
inline std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Run SQL on a database file directly (as another tool or a future jobcarbon would).
inline void raw_exec(const std::filesystem::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + db_path.string());
  }
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error(sql + ": " + message);
}

// Return the single integer a query returns on a database file.
inline std::int64_t raw_int(const std::filesystem::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* s = nullptr;
  std::int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    v = sqlite3_column_int64(s, 0);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

// Return the single text value a query returns on a database file.
inline std::string raw_text(const std::filesystem::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* s = nullptr;
  std::string v;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != nullptr) {
    v = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

}  // namespace jobcarbon::ledger::testing
