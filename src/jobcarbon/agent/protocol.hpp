// The node agent's socket protocol, version 1: newline-delimited JSON, one message per line,
// `{"v":1,"type":"job_start",...}`. This file is the pure message layer (no sockets): the message
// structs, serialize() and a validating parse(). docs/agent-protocol.md is the reference for
// clients written in other languages; keep the two in step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <jobcarbon/units/units.hpp>

namespace jobcarbon::agent {

// Where the agent listens unless configured otherwise (agent-socket).
inline constexpr std::string_view kDefaultAgentSocket = "/run/jobcarbon/agent.sock";

// The protocol version this agent speaks; a message with any other "v" is refused.
inline constexpr std::int64_t kProtocolVersion = 1;
// The longest message accepted, in bytes, not counting its newline.
inline constexpr std::size_t kMaxMessageBytes = 64 * 1024;

// Limits that keep one message's content sane (see docs/agent-protocol.md, "Limits").
inline constexpr std::size_t kMaxStringBytes = 4096;
inline constexpr std::size_t kMaxListEntries = 4096;
// 1e16 µs after the epoch is the year 2286: anything later is a unit mistake (ns or garbage).
inline constexpr std::int64_t kMaxTimeMicros = 10'000'000'000'000'000;
// Linux caps pid_max at 2^22.
inline constexpr std::int64_t kMaxPid = 4'194'304;
// uid 4294967295 is (uid_t)-1, "no user"; it is never a real user.
inline constexpr std::int64_t kMaxUid = 4'294'967'294;

// The idempotent identity of a job on this node: the ledger's key without the node.
struct JobKey {
  std::string cluster;
  std::string job_id;
  std::int64_t submit_time_us = 0;  // wall clock, µs since the Unix epoch
  std::string step;                 // Slurm step ("batch", "extern", "0", ...); never empty
  bool operator==(const JobKey&) const = default;
};

// A job (or a `jobcarbon run` command) starts on this node.
struct JobStart {
  JobKey key;
  std::string user;
  std::int64_t uid = 0;
  std::string account;             // empty when none
  std::vector<std::string> gpus;   // GPU UUIDs ("GPU-..."), not indices
  std::string cgroup;              // absolute cgroup path, empty when the job is known by pids
  std::vector<std::int64_t> pids;  // processes to follow (for `jobcarbon run`), may be empty
  bool exclusive = false;          // the job owns the whole node
  std::map<std::string, std::string> tags;
  // Node-level GPU indices (Slurm's SLURM_JOB_GPUS in a Prolog: /dev/nvidiaN minor numbers, taken
  // as NVML indices), which the agent maps to UUIDs itself: a prolog need not load NVML.
  std::vector<std::int64_t> gpu_indices;
  bool operator==(const JobStart&) const = default;
};

// A job ends on this node.
struct JobEnd {
  JobKey key;
  std::int64_t exit_code = 0;
  std::int64_t end_time_us = 0;  // wall clock, µs since the Unix epoch; not before submit time
  bool operator==(const JobEnd&) const = default;
};

// A query for the jobs running on this node.
struct StatusRequest {
  bool operator==(const StatusRequest&) const = default;
};

// The agent's reply: the request was carried out.
struct Ok {
  bool operator==(const Ok&) const = default;
};

// The agent's reply: the request was refused. code is one of the codes in
// docs/agent-protocol.md ("malformed", "unsupported_version", "unknown_type", "invalid_field",
// "too_long", "forbidden", "unknown_job", "internal"); message is for people.
struct Error {
  std::string code;
  std::string message;
  bool operator==(const Error&) const = default;
};

// One running job in a StatusReply.
struct RunningJob {
  JobKey key;
  std::string user;
  std::int64_t uid = 0;
  Microjoules energy;   // "energy_uj": measured so far
  double co2_kg = 0.0;  // so far; finite, never negative
  bool operator==(const RunningJob&) const = default;
};

// The agent's reply to StatusRequest.
struct StatusReply {
  std::vector<RunningJob> jobs;
  bool operator==(const StatusReply&) const = default;
};

// The agent's reply to JobEnd: what the job was charged on this node. A job registered inside a
// job the agent already meters (a `jobcarbon run` in a Slurm job) is a sub-record: `parent` names
// that job, and its energy is the share of the parent's already charged there (never a second
// charge; no ledger record of its own).
// Energy per domain (the names of sensors::domain_name), as the ledger keeps them.
struct DomainsUj {
  Microjoules gpu, cpu, dram, node, estimated_cpu, estimated_memory;
  Microjoules total() const { return gpu + cpu + dram + node + estimated_cpu + estimated_memory; }
  bool operator==(const DomainsUj&) const = default;
};

struct JobReport {
  JobKey key;
  std::optional<JobKey> parent;
  DomainsUj charged;      // "domains_uj": charged to the job
  DomainsUj machine;      // "machine_domains_uj": the whole node over the job's lifetime
  DomainsUj unallocated;  // "unallocated_domains_uj": what no job used over its lifetime
  std::int64_t cpu_time_us = 0;
  double co2_kg = 0.0;      // finite, never negative
  double pue = 1.0;         // [1, 3]
  double kg_per_kwh = 0.0;  // the energy-weighted mean intensity, [0, 2]
  bool operator==(const JobReport&) const = default;
};

using Message = std::variant<JobStart, JobEnd, StatusRequest, Ok, Error, StatusReply, JobReport>;

// Why a line is not a valid message.
struct ProtocolError {
  std::string
      code;  // "malformed", "unsupported_version", "unknown_type", "invalid_field", "too_long"
  std::string field;    // path of the offending field ("pids[2]", "tags.team"); empty for the line
  std::string problem;  // what is wrong with it
  // Return "field: problem", or just problem when no field is named.
  std::string message() const;
  bool operator==(const ProtocolError&) const = default;
};

// Return the wire "type" of a message ("job_start", "job_end", "status", "ok", "error",
// "status_reply", "job_report").
std::string_view type_name(const Message& message);

// Return message as one line of JSON ending in '\n'. Strings are expected to be UTF-8; invalid
// bytes are replaced by U+FFFD rather than throwing. A StatusReply with very many jobs may exceed
// kMaxMessageBytes; callers that send replies check the length.
std::string serialize(const Message& message);

// Return the message in line (a trailing '\n' or "\r\n" is allowed), or the first problem found:
// not a JSON object, missing/ill-typed "v", an unsupported version, an unknown type, a missing,
// ill-typed, unknown or out-of-range field, a string holding NUL, or a line over kMaxMessageBytes.
// Every message parse() accepts serializes back to a line that parses to an equal message.
std::expected<Message, ProtocolError> parse(std::string_view line);

// Return the Error reply that tells a client why its line was refused.
Error to_reply(const ProtocolError& error);

}  // namespace jobcarbon::agent
