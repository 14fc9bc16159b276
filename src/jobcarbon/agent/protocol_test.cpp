#include <jobcarbon/agent/protocol.hpp>

#include <cmath>
#include <random>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace jobcarbon::agent {
namespace {

JobKey key() {
  return JobKey{"hpc1", "4242_7", 1'700'000'000'123'456, "batch"};
}

JobStart full_start() {
  JobStart m;
  m.key = key();
  m.user = "alice";
  m.uid = 1001;
  m.account = "physics";
  m.gpus = {"GPU-1b2c", "GPU-9f00"};
  m.cgroup = "/system.slice/slurmstepd.scope/job_4242";
  m.pids = {1234, 5678};
  m.exclusive = true;
  m.tags = {{"experiment", "lr=3e-4"}, {"team", "é"}};
  return m;
}

std::vector<Message> examples() {
  StatusReply reply;
  reply.jobs.push_back(
      RunningJob{key(), "alice", 1001, Microjoules(3'600'000'000'000), 0.1234567890123});
  reply.jobs.push_back(RunningJob{JobKey{"c", "1", 0, "0"}, "bob", 0, Microjoules(0), 0.0});
  return {full_start(),
          JobStart{key(), "bob", 0, "", {}, "", {}, false, {}, {}},
          JobEnd{key(), -9, 1'700'000'100'000'000},
          StatusRequest{},
          Ok{},
          Error{"forbidden", "uid 1001 may not register a job for uid 0"},
          reply,
          StatusReply{}};
}

TEST(Protocol, EveryMessageRoundTrips) {
  for (const auto& m : examples()) {
    const auto line = serialize(m);
    ASSERT_TRUE(line.ends_with('\n'));
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    const auto back = parse(line);
    ASSERT_TRUE(back) << line << " -> " << back.error().message();
    EXPECT_EQ(*back, m) << line;
  }
}

TEST(Protocol, WireFormatIsExactlyAsDocumented) {
  EXPECT_EQ(serialize(JobEnd{key(), 0, 1'700'000'100'000'000}),
            R"({"v":1,"type":"job_end","cluster":"hpc1","job_id":"4242_7",)"
            R"("submit_time_us":1700000000123456,"step":"batch","exit_code":0,)"
            R"("end_time_us":1700000100000000})"
            "\n");
  EXPECT_EQ(serialize(StatusRequest{}), "{\"v\":1,\"type\":\"status\"}\n");
  EXPECT_EQ(serialize(Ok{}), "{\"v\":1,\"type\":\"ok\"}\n");
  EXPECT_EQ(serialize(JobStart{key(), "bob", 7, "", {}, "", {3}, false, {{"a", "b"}}, {}}),
            R"({"v":1,"type":"job_start","cluster":"hpc1","job_id":"4242_7",)"
            R"("submit_time_us":1700000000123456,"step":"batch","user":"bob","uid":7,)"
            R"("account":"","gpus":[],"cgroup":"","pids":[3],"exclusive":false,"tags":{"a":"b"}})"
            "\n");
}

TEST(Protocol, OptionalFieldsTakeTheirDefaultsAndFieldOrderDoesNotMatter) {
  const auto m = parse(
      R"({"uid":5,"user":"u","step":"0","submit_time_us":1,"job_id":"9","cluster":"c","type":"job_start","v":1})");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(std::get<JobStart>(*m),
            (JobStart{JobKey{"c", "9", 1, "0"}, "u", 5, "", {}, "", {}, false, {}, {}}));
  EXPECT_TRUE(parse("{\"v\":1,\"type\":\"status\"}\r\n"));
}

struct BadLine {
  std::string line;
  std::string code;
  std::string message;
};

constexpr const char* kStart =
    R"({"v":1,"type":"job_start","cluster":"c","job_id":"1","submit_time_us":5,"step":"0","user":"u","uid":7)";
constexpr const char* kEnd =
    R"({"v":1,"type":"job_end","cluster":"c","job_id":"1","submit_time_us":5,"step":"0")";

TEST(Protocol, BadLinesAreRefusedWithTheirExactError) {
  const std::string start = kStart;
  const std::string end = kEnd;
  const std::vector<BadLine> cases = {
      {"", "malformed", "not valid JSON in UTF-8"},
      {"{\"v\":1,", "malformed", "not valid JSON in UTF-8"},
      {"{\"v\":1,\"type\":\"ok\"} {}", "malformed", "not valid JSON in UTF-8"},
      {"{\"v\":1,\"type\":\"\xff\"}", "malformed", "not valid JSON in UTF-8"},
      {"[1,2]", "malformed", "a message must be a JSON object"},
      {"17", "malformed", "a message must be a JSON object"},
      {R"({"type":"ok"})", "invalid_field", "v: is missing"},
      {R"({"v":"1","type":"ok"})", "invalid_field",
       "v: must be an integer from -9223372036854775808 to 9223372036854775807"},
      {R"({"v":1.0,"type":"ok"})", "invalid_field",
       "v: must be an integer from -9223372036854775808 to 9223372036854775807"},
      {R"({"v":2,"type":"ok"})", "unsupported_version",
       "v: unsupported protocol version 2 (this agent speaks 1)"},
      {R"({"v":0,"type":"job_start"})", "unsupported_version",
       "v: unsupported protocol version 0 (this agent speaks 1)"},
      {R"({"v":1})", "invalid_field", "type: is missing"},
      {R"({"v":1,"type":7})", "invalid_field", "type: must be a string"},
      {R"({"v":1,"type":"job_stop"})", "unknown_type", R"(type: unknown message type "job_stop")"},
      {R"({"v":1,"type":"ok","extra":1})", "invalid_field", "extra: is not a field of ok"},
      {R"({"v":1,"type":"status","jobs":[]})", "invalid_field", "jobs: is not a field of status"},
      {start + R"(,"gpu":["GPU-1"]})", "invalid_field", "gpu: is not a field of job_start"},
      {R"({"v":1,"type":"job_start","job_id":"1"})", "invalid_field", "cluster: is missing"},
      {start + R"(,"cluster":""})", "invalid_field", "cluster: must not be empty"},
      {R"({"v":1,"type":"job_start","cluster":"c","job_id":42,"submit_time_us":5,"step":"0","user":"u","uid":7})",
       "invalid_field", "job_id: must be a string"},
      {R"({"v":1,"type":"job_start","cluster":"a\u0000b","job_id":"1","submit_time_us":5,"step":"0","user":"u","uid":7})",
       "invalid_field", "cluster: must not contain NUL"},
      {R"({"v":1,"type":"job_start","cluster":"c","job_id":"1","submit_time_us":-1,"step":"0","user":"u","uid":7})",
       "invalid_field", "submit_time_us: must be an integer from 0 to 10000000000000000"},
      {R"({"v":1,"type":"job_start","cluster":"c","job_id":"1","submit_time_us":1.7e15,"step":"0","user":"u","uid":7})",
       "invalid_field", "submit_time_us: must be an integer from 0 to 10000000000000000"},
      {R"({"v":1,"type":"job_start","cluster":"c","job_id":"1","submit_time_us":1700000000000000000,"step":"0","user":"u","uid":7})",
       "invalid_field", "submit_time_us: must be an integer from 0 to 10000000000000000"},
      {R"({"v":1,"type":"job_start","cluster":"c","job_id":"1","submit_time_us":99999999999999999999999,"step":"0","user":"u","uid":7})",
       "invalid_field", "submit_time_us: must be an integer from 0 to 10000000000000000"},
      {R"({"v":1,"type":"job_start","cluster":"c","job_id":"1","submit_time_us":5,"step":"0","user":"u","uid":4294967295})",
       "invalid_field", "uid: must be an integer from 0 to 4294967294"},
      {R"({"v":1,"type":"job_start","cluster":"c","job_id":"1","submit_time_us":5,"step":"0","user":"u"})",
       "invalid_field", "uid: is missing"},
      {start + R"(,"gpus":"GPU-1"})", "invalid_field", "gpus: must be an array of strings"},
      {start + R"(,"gpus":["GPU-1",""]})", "invalid_field", "gpus[1]: must not be empty"},
      {start + R"(,"gpus":["GPU-1","GPU-1"]})", "invalid_field",
       "gpus[1]: lists the same GPU twice"},
      {start + R"(,"pids":[1,0]})", "invalid_field",
       "pids[1]: must be an integer from 1 to 4194304"},
      {start + R"(,"pids":[4194305]})", "invalid_field",
       "pids[0]: must be an integer from 1 to 4194304"},
      {start + R"(,"pids":[12,12]})", "invalid_field", "pids[1]: lists the same pid twice"},
      {start + R"(,"pids":{}})", "invalid_field", "pids: must be an array of integers"},
      {start + R"(,"exclusive":1})", "invalid_field", "exclusive: must be true or false"},
      {start + R"(,"cgroup":"job_1"})", "invalid_field",
       "cgroup: must be an absolute path (start with '/')"},
      {start + R"(,"cgroup":"/slurm/../../etc"})", "invalid_field",
       "cgroup: must not contain '..' components"},
      {start + R"(,"cgroup":"/slurm/.."})", "invalid_field",
       "cgroup: must not contain '..' components"},
      {start + R"(,"tags":["a"]})", "invalid_field", "tags: must be an object of strings"},
      {start + R"(,"tags":{"team":3}})", "invalid_field", "tags.team: must be a string"},
      {start + R"(,"tags":{"":"x"}})", "invalid_field", "tags: must not be empty"},
      {start + R"(,"account":"x)" + std::string(4096, 'y') + R"("})", "invalid_field",
       "account: is longer than 4096 bytes"},
      {end + R"(,"exit_code":0})", "invalid_field", "end_time_us: is missing"},
      {end + R"(,"exit_code":0,"end_time_us":4})", "invalid_field",
       "end_time_us: is before submit_time_us"},
      {end + R"(,"exit_code":2147483648,"end_time_us":6})", "invalid_field",
       "exit_code: must be an integer from -2147483648 to 2147483647"},
      {R"({"v":1,"type":"error","message":"m"})", "invalid_field", "code: is missing"},
      {R"({"v":1,"type":"status_reply"})", "invalid_field", "jobs: is missing"},
      {R"({"v":1,"type":"status_reply","jobs":[1]})", "invalid_field",
       "jobs[0]: must be an object"},
      {R"({"v":1,"type":"status_reply","jobs":[{"cluster":"c","job_id":"1","submit_time_us":5,"step":"0","user":"u","uid":1,"energy_uj":-1,"co2_kg":0}]})",
       "invalid_field", "jobs[0].energy_uj: must be an integer from 0 to 9223372036854775807"},
      {R"({"v":1,"type":"status_reply","jobs":[{"cluster":"c","job_id":"1","submit_time_us":5,"step":"0","user":"u","uid":1,"energy_uj":1,"co2_kg":-0.5}]})",
       "invalid_field", "jobs[0].co2_kg: must be a finite number, not negative"},
      {R"({"v":1,"type":"status_reply","jobs":[{"cluster":"c","job_id":"1","submit_time_us":5,"step":"0","user":"u","uid":1,"energy_uj":1,"co2_kg":1e999}]})",
       "malformed",
       "not valid JSON in UTF-8"},  // the JSON parser refuses numbers out of double range
      {R"({"v":1,"type":"status_reply","jobs":[{"cluster":"c","job_id":"1","submit_time_us":5,"step":"0","user":"u","uid":1,"energy_uj":1,"co2_kg":1,"gpu":0}]})",
       "invalid_field", "jobs[0].gpu: is not a field of a status_reply job"},
      {"{\"v\":1,\"type\":\"ok\",\"pad\":\"" + std::string(kMaxMessageBytes, ' ') + "\"}",
       "too_long", "message too long (over 65536 bytes)"},
  };
  for (const auto& c : cases) {
    const auto m = parse(c.line);
    ASSERT_FALSE(m) << c.line.substr(0, 200);
    EXPECT_EQ(m.error().code, c.code) << c.line.substr(0, 200);
    EXPECT_EQ(m.error().message(), c.message) << c.line.substr(0, 200);
  }
}

TEST(Protocol, ALineOfExactlyTheLimitIsParsed) {
  const std::string head = "{\"v\":1,\"type\":\"error\",\"code\":\"x\",\"message\":\"";
  const std::string tail = "\"}";
  // The message string itself must stay under kMaxStringBytes, so pad with JSON whitespace.
  std::string line = head + "m" + tail;
  line.insert(1, std::string(kMaxMessageBytes - line.size(), ' '));
  ASSERT_EQ(line.size(), kMaxMessageBytes);
  EXPECT_TRUE(parse(line));
  EXPECT_EQ(parse(" " + line).error().code, "too_long");
}

TEST(Protocol, ErrorRepliesCarryTheCodeAndMessage) {
  const auto e = parse(R"({"v":3,"type":"ok"})").error();
  EXPECT_EQ(to_reply(e), (Error{"unsupported_version",
                                "v: unsupported protocol version 3 (this agent speaks 1)"}));
}

}  // namespace
}  // namespace jobcarbon::agent
