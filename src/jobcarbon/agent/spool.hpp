// The agent's spool: finished job records, step records and closed idle intervals kept on local
// disk while the ledger is unreachable, and replayed into it later. Exactly once: a record's file
// is deleted only after the ledger took it (written, or already there: the ledger's append is
// idempotent on the record's key), so a crash between the two replays it once more as a no-op.
//
// Layout: DIR/job-<hash>.json, DIR/step-<hash>.json and DIR/idle-<hash>.json, one file per
// record, named by a stable hash of the record's ledger key, written with write_file_atomically;
// DIR/corrupt/ holds files that could not be read back, moved aside for a person to look at. A
// file holds {"version": 1, "kind": "job" | "step" | "idle", "record": <ledger/record_json.hpp's
// JSON>}. A step's file is never a job's: a step record must never reach Store::append, where
// it would be counted (steps are shares of their job's record).
#pragma once

#include <cstddef>
#include <expected>
#include <filesystem>
#include <string>
#include <vector>

#include <jobcarbon/ledger/job_record.hpp>
#include <jobcarbon/ledger/store.hpp>

namespace jobcarbon::agent {

// What one replay did.
struct ReplayResult {
  int appended = 0;    // records the ledger wrote
  int duplicates = 0;  // records the ledger had already (a replay after a crash): not counted twice
  int remaining = 0;   // records left in the spool because the ledger failed (0: drained)
  std::string last_error;  // the ledger's error that stopped the replay ("" when none did)
  // One line per spool file moved to DIR/corrupt/: "DIR/job-….json: moved to DIR/corrupt/…:
  // <why it could not be read>". Such a record needs a person; it no longer blocks the others.
  std::vector<std::string> corrupt;
};

// Not safe for concurrent use: one Spool per directory, used from one thread at a time.
class Spool {
 public:
  // Use DIR as the spool. Touches nothing: DIR is created (mode 0700, missing parents too) by the
  // first put.
  explicit Spool(std::filesystem::path dir);

  // Keep RECORD until replay gives it to the ledger: durable on disk when this returns success.
  // Putting a record whose key is spooled already replaces that file (one file per key). Error,
  // with nothing written: a record the ledger would refuse (ledger::invalid_field: it could never
  // be replayed), or the file system's error naming the path. Strings that are not valid UTF-8
  // are kept with U+FFFD in place of the bad bytes (JSON holds only UTF-8).
  std::expected<void, std::string> put(const ledger::JobRecord& record);
  // As put(JobRecord), for a step record (a sub-record's: Store::append_step at replay, never
  // append); refused as ledger::invalid_step refuses it (e.g. step "" or "job").
  std::expected<void, std::string> put_step(const ledger::JobRecord& step);
  // As put(JobRecord), for an idle interval (ledger::invalid_idle; key: cluster, node, start).
  std::expected<void, std::string> put(const ledger::NodeIdle& idle);

  // Return the number of records spooled (0 when DIR is missing or cannot be read).
  std::size_t size() const;

  // Give every spooled record to STORE, in file name order (idle intervals, jobs, then steps):
  // append, append_step or append_idle, then delete the file once the store took it (written or
  // duplicate). Stops at the first error of the store, which means the ledger is down: that
  // record and the rest stay spooled (counted in `remaining`, the error in `last_error`) for the
  // next replay. A file that cannot be read back (damaged, unknown format, a record the ledger
  // would refuse) is moved to DIR/corrupt/ and reported in `corrupt`, never deleted. Error: the
  // spool's own file system failed (listing DIR, moving a file aside, deleting a replayed file).
  std::expected<ReplayResult, std::string> replay(ledger::Store& store);

  // Return the spool's directory.
  const std::filesystem::path& dir() const { return dir_; }

  // The largest spool file replay reads; a larger one is moved aside (a record with its full
  // report is a few hundred KiB).
  static constexpr std::size_t kMaxFileBytes = 64 << 20;

 private:
  std::expected<void, std::string> ensure_dir() const;
  std::expected<void, std::string> write(const std::string& name, const std::string& text) const;
  std::expected<std::string, std::string> move_aside(const std::string& name,
                                                     const std::string& why) const;

  std::filesystem::path dir_;
};

}  // namespace jobcarbon::agent
