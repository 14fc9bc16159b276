// Property test: random and mutated lines never crash parse(), every accepted message is valid by
// rules checked here independently of the parser, and every accepted message round-trips.
#include <jobcarbon/agent/protocol.hpp>

#include <cmath>
#include <random>
#include <set>
#include <string>

#include <gtest/gtest.h>

namespace jobcarbon::agent {
namespace {

bool good_text(const std::string& s, bool allow_empty) {
  return (allow_empty || !s.empty()) && s.size() <= kMaxStringBytes &&
         s.find('\0') == std::string::npos;
}

bool good_key(const JobKey& k) {
  return good_text(k.cluster, false) && good_text(k.job_id, false) && good_text(k.step, false) &&
         k.submit_time_us >= 0 && k.submit_time_us <= kMaxTimeMicros;
}

// The validation rules of docs/agent-protocol.md, restated without the parser's code.
bool valid(const Message& m) {
  if (const auto* s = std::get_if<JobStart>(&m)) {
    if (!good_key(s->key) || !good_text(s->user, false) || s->uid < 0 || s->uid > kMaxUid)
      return false;
    if (!good_text(s->account, true) || !good_text(s->cgroup, true)) return false;
    if (!s->cgroup.empty() &&
        (s->cgroup[0] != '/' || (s->cgroup + "/").find("/../") != std::string::npos)) {
      return false;
    }
    std::set<std::string> gpus(s->gpus.begin(), s->gpus.end());
    if (gpus.size() != s->gpus.size()) return false;
    for (const auto& g : s->gpus)
      if (!good_text(g, false)) return false;
    std::set<std::int64_t> pids(s->pids.begin(), s->pids.end());
    if (pids.size() != s->pids.size()) return false;
    for (auto p : s->pids)
      if (p < 1 || p > kMaxPid) return false;
    for (const auto& [k, v] : s->tags)
      if (!good_text(k, false) || !good_text(v, true)) return false;
    return true;
  }
  if (const auto* e = std::get_if<JobEnd>(&m)) {
    return good_key(e->key) && e->exit_code >= INT32_MIN && e->exit_code <= INT32_MAX &&
           e->end_time_us >= e->key.submit_time_us && e->end_time_us <= kMaxTimeMicros;
  }
  if (const auto* e = std::get_if<Error>(&m)) {
    return good_text(e->code, false) && good_text(e->message, true);
  }
  if (const auto* r = std::get_if<StatusReply>(&m)) {
    for (const auto& j : r->jobs) {
      if (!good_key(j.key) || !good_text(j.user, false) || j.uid < 0 || j.uid > kMaxUid ||
          j.energy.value < 0 || !std::isfinite(j.co2_kg) || j.co2_kg < 0) {
        return false;
      }
    }
  }
  return true;
}

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  std::string word() {
    // Whole UTF-8 characters: serialize() expects valid UTF-8.
    static const std::string kChars[] = {"a",  "b",  "c",      "X",    "Z",     "0", "1",
                                         "9",  "_",  "-",      ".",    "/",     "+", "=",
                                         "\"", "\\", "\u00e9", "\x01", "\u65e5"};
    std::string s;
    const auto n = between(0, 6);
    for (int i = 0; i < n; ++i) s += kChars[between(0, std::size(kChars) - 1)];
    return s;
  }
  JobKey key() {
    return JobKey{word() + "c", word() + "1", between(0, kMaxTimeMicros),
                  between(0, 1) ? "batch" : word() + "0"};
  }
  Message message() {
    switch (between(0, 6)) {
      case 0: {
        JobStart s;
        s.key = key();
        s.user = word() + "u";
        s.uid = between(0, kMaxUid);
        s.account = word();
        s.exclusive = between(0, 1) == 1;
        for (auto n = between(0, 3); n > 0; --n) s.gpus.push_back("GPU-" + std::to_string(n));
        for (auto n = between(0, 2); n > 0; --n) s.gpu_indices.push_back(n * 2 + between(0, 1));
        for (auto n = between(0, 3); n > 0; --n) s.pids.push_back(n * 1000 + between(1, 999));
        if (between(0, 1)) s.cgroup = "/slurm/job_" + std::to_string(between(0, 99));
        for (auto n = between(0, 2); n > 0; --n) s.tags[word() + "t"] = word();
        return s;
      }
      case 1: {
        JobEnd e{key(), between(-255, 255), 0};
        e.end_time_us = between(e.key.submit_time_us, kMaxTimeMicros);
        return e;
      }
      case 2:
        return StatusRequest{};
      case 3:
        return Ok{};
      case 4:
        return Error{word() + "e", word()};
      case 5: {
        JobReport r;
        r.key = key();
        if (between(0, 1)) r.parent = key();
        r.charged.gpu = Microjoules(between(0, INT64_MAX));
        r.charged.cpu = Microjoules(between(0, 1'000'000));
        r.machine.dram = Microjoules(between(0, 1'000));
        r.unallocated.node = Microjoules(between(0, INT64_MAX));
        r.cpu_time_us = between(0, 1'000'000'000);
        r.co2_kg = std::ldexp(static_cast<double>(between(0, 1 << 30)), between(-40, 10));
        r.pue = 1.0 + static_cast<double>(between(0, 200)) / 100;
        r.kg_per_kwh = static_cast<double>(between(0, 2000)) / 1000;
        return r;
      }
      default: {
        StatusReply r;
        for (auto n = between(0, 3); n > 0; --n) {
          r.jobs.push_back(RunningJob{
              key(), word() + "u", between(0, kMaxUid), Microjoules(between(0, INT64_MAX)),
              std::ldexp(static_cast<double>(between(0, 1 << 30)), between(-40, 10))});
        }
        return r;
      }
    }
  }
  // Damage a line the way a buggy or hostile client would.
  std::string mutate(std::string line) {
    static const std::string kTokens[] = {"\"",     ",",    "{",       "}", "[",
                                          "]",      ":",    "-1",      "0", "1e400",
                                          "null",   "true", "\\u0000", "2", "99999999999999999999",
                                          "\"..\"", "\xff", "\n",      " "};
    for (auto n = between(1, 4); n > 0 && !line.empty(); --n) {
      const auto at = static_cast<std::size_t>(between(0, line.size() - 1));
      switch (between(0, 4)) {
        case 0:
          line[at] = static_cast<char>(between(0, 255));
          break;
        case 1:
          line.erase(at, between(1, 8));
          break;
        case 2:
          line.insert(at, kTokens[between(0, std::size(kTokens) - 1)]);
          break;
        case 3:
          line.insert(at, line.substr(between(0, line.size() - 1), between(1, 12)));
          break;
        default: {
          // Replace a digit run by another number to probe the ranges.
          const auto d = line.find_first_of("0123456789", at);
          if (d != std::string::npos) line.replace(d, 1, kTokens[between(7, 14)]);
        }
      }
    }
    return line;
  }
  std::string garbage() {
    std::string s;
    for (auto n = between(0, 64); n > 0; --n) s += static_cast<char>(between(0, 255));
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

TEST(ProtocolProperty, RandomAndMutatedLinesNeverCrashAndAcceptedOnesAreValidAndRoundTrip) {
  Generator gen(20240917);
  int accepted = 0, refused = 0, valid_round_trips = 0;
  for (int i = 0; i < 30'000; ++i) {
    const Message original = gen.message();
    const auto line = serialize(original);
    // Generated messages are valid by construction; they must round-trip exactly.
    const auto direct = parse(line);
    ASSERT_TRUE(direct) << line << direct.error().message();
    ASSERT_EQ(*direct, original) << line;
    ++valid_round_trips;

    const std::string input = i % 10 == 0 ? gen.garbage() : gen.mutate(line);
    const auto m = parse(input);
    if (!m) {
      ++refused;
      ASSERT_FALSE(m.error().code.empty());
      ASSERT_FALSE(m.error().problem.empty());
      continue;
    }
    ++accepted;
    ASSERT_TRUE(valid(*m)) << "accepted an invalid message: " << input;
    const auto again = parse(serialize(*m));
    ASSERT_TRUE(again) << input << " -> " << serialize(*m);
    ASSERT_EQ(*again, *m) << input;
  }
  // Both outcomes must be exercised, or the property says little.
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(refused, 10'000);
  EXPECT_EQ(valid_round_trips, 30'000);
}

}  // namespace
}  // namespace jobcarbon::agent
