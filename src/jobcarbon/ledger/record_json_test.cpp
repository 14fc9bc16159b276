#include <jobcarbon/ledger/record_json.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include <jobcarbon/ledger/test_support.hpp>

namespace jobcarbon::ledger {
namespace {

using json = nlohmann::json;
using testing::at_s;
using testing::sample_record;

// Return the error of decoding J as a job record ("" when it decoded).
std::string job_error(const json& j) {
  auto r = job_record_from_json(j);
  return r ? "" : r.error();
}

TEST(RecordJson, JobRecordRoundTripsThroughText) {
  const JobRecord r = sample_record("4242", at_s(1'700'000'000));
  const json j = to_json(r);
  // Hand-checked: integers stay integers, instants are µs since the epoch.
  EXPECT_EQ(j["energy"]["gpu"], 1'000'000);
  EXPECT_TRUE(j["energy"]["gpu"].is_number_integer());
  EXPECT_EQ(j["energy_charged"], 3'300'000);
  EXPECT_EQ(j["submit_time"], 1'699'999'995'000'000);
  EXPECT_EQ(j["end"], 1'700'000'090'000'000);
  EXPECT_EQ(j["command"], json({"/usr/bin/python3", "train.py", "--epochs", "10"}));
  EXPECT_EQ(j["tags"], json({{"project", "resnet"}, {"stage", "train"}}));
  EXPECT_EQ(j["report_json"], R"({"schema_version":1})");
  EXPECT_EQ(j["pue"], 1.2);

  auto back = job_record_from_json(json::parse(j.dump()));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, r);
}

TEST(RecordJson, UnsetWorkCountIsNullAndAbsentMeansUnset) {
  JobRecord r = sample_record("1", at_s(100));
  r.work_count.reset();
  r.work_unit = "";
  json j = to_json(r);
  EXPECT_TRUE(j["work_count"].is_null());
  auto back = job_record_from_json(j);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, r);

  j.erase("work_count");
  back = job_record_from_json(j);
  ASSERT_TRUE(back) << back.error();
  EXPECT_FALSE(back->work_count.has_value());
}

TEST(RecordJson, ExtremeValuesRoundTripExactly) {
  JobRecord r = sample_record("edge", at_s(0));
  r.submit_time = from_us(std::numeric_limits<std::int64_t>::min());
  r.start = from_us(-1);  // before 1970
  r.end = from_us(std::numeric_limits<std::int64_t>::max());
  r.energy.gpu = Microjoules(std::numeric_limits<std::int64_t>::max());
  r.energy.cpu = Microjoules(0);
  r.exit_code = std::numeric_limits<int>::min();
  r.intensity_year = std::numeric_limits<int>::max();
  r.cpus = std::numeric_limits<double>::denorm_min();
  r.pue = std::numeric_limits<double>::max();
  r.co2_kg = 0.1 + 0.2;  // 0.30000000000000004: the last bit must survive
  r.intensity_kg_per_kwh = std::numeric_limits<double>::lowest();
  r.work_count = 1.0 / 3.0;
  r.command = {"", "a b", "\"quoted\"", "tab\there", "nul\0byte"};
  r.command.back() = std::string("nul\0byte", 8);
  r.tags = {{"", ""}, {"日本", "🙂 é"}, {"ctl", "\x01\x1f"}};
  r.report_json = "not even json {";
  auto back = job_record_from_json(json::parse(to_json(r).dump()));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, r);
  EXPECT_EQ(back->command.back().size(), 8u);
}

TEST(RecordJson, ErrorsNameTheField) {
  const json good = to_json(sample_record("1", at_s(100)));
  ASSERT_EQ(job_error(good), "");

  auto with = [&](auto edit) {
    json j = good;
    edit(j);
    return job_error(j);
  };
  EXPECT_EQ(with([](json& j) { j.erase("job_id"); }), "job_id: missing");
  EXPECT_EQ(with([](json& j) { j["job_id"] = 42; }), "job_id: expected a string");
  EXPECT_EQ(with([](json& j) { j["energy"]["gpu"] = "1000"; }), "energy.gpu: expected an integer");
  EXPECT_EQ(with([](json& j) { j["energy"]["gpu"] = 1.5; }), "energy.gpu: expected an integer");
  EXPECT_EQ(with([](json& j) { j["energy"]["dram"] = -5; }), "energy.dram: negative energy -5");
  EXPECT_EQ(with([](json& j) { j["energy"].erase("node"); }), "energy.node: missing");
  EXPECT_EQ(with([](json& j) { j["energy"]["colour"] = 1; }), "energy.colour: unknown field");
  EXPECT_EQ(with([](json& j) { j["energy"] = 7; }), "energy: expected an object");
  EXPECT_EQ(with([](json& j) { j.erase("energy"); }), "energy: missing");
  EXPECT_EQ(with([](json& j) { j["machine_energy"] = -1; }), "machine_energy: negative energy -1");
  EXPECT_EQ(with([](json& j) { j["start"] = 9'223'372'036'854'775'808ull; }),
            "start: 9223372036854775808 is out of range");
  EXPECT_EQ(with([](json& j) { j["exit_code"] = 4'294'967'296; }),
            "exit_code: 4294967296 is out of range");
  EXPECT_EQ(with([](json& j) { j["tags"]["project"] = 1; }), "tags.project: expected a string");
  EXPECT_EQ(with([](json& j) { j["tags"] = json::array(); }),
            "tags: expected an object of strings");
  EXPECT_EQ(with([](json& j) { j["command"][1] = nullptr; }), "command[1]: expected a string");
  EXPECT_EQ(with([](json& j) { j["pue"] = "1.2"; }), "pue: expected a number");
  EXPECT_EQ(with([](json& j) { j["work_count"] = "many"; }),
            "work_count: expected a number or null");
  EXPECT_EQ(with([](json& j) { j["colour"] = "red"; }), "colour: unknown field");
  // The first problem in field order is the one reported.
  EXPECT_EQ(with([](json& j) {
              j.erase("cluster");
              j["co2_kg"] = false;
            }),
            "cluster: missing");
  EXPECT_EQ(job_error(json::array()), "record: expected an object");
  EXPECT_EQ(job_error(json(nullptr)), "record: expected an object");
  // An integer where a double is expected is the same number.
  auto four = job_record_from_json([&] {
    json j = good;
    j["cpus"] = 4;
    return j;
  }());
  ASSERT_TRUE(four) << four.error();
  EXPECT_EQ(four->cpus, 4.0);
}

TEST(RecordJson, NonFiniteDoubleDoesNotComeBackAsANumber) {
  JobRecord r = sample_record("1", at_s(100));
  r.co2_kg = std::nan("");
  const json j = json::parse(to_json(r).dump());  // JSON has no NaN: nlohmann writes null
  EXPECT_EQ(job_error(j), "co2_kg: expected a number");
}

TEST(RecordJson, NodeIdleRoundTripsAndRefusesNegativeEnergy) {
  const NodeIdle idle{"hpc", "gpu-node-07", from_us(1'700'000'000'123'456),
                      from_us(1'700'000'060'000'001), Microjoules(61'000'000'007)};
  const json j = to_json(idle);
  EXPECT_EQ(j, json::parse(R"({"cluster":"hpc","node":"gpu-node-07","start":1700000000123456,
                              "end":1700000060000001,"energy":61000000007})"));
  auto back = node_idle_from_json(json::parse(j.dump()));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, idle);

  json bad = j;
  bad["energy"] = -3;
  EXPECT_EQ(node_idle_from_json(bad).error(), "energy: negative energy -3");
  bad = j;
  bad.erase("node");
  EXPECT_EQ(node_idle_from_json(bad).error(), "node: missing");
  EXPECT_EQ(node_idle_from_json(json("x")).error(), "record: expected an object");
}

TEST(RecordJson, RunningRecordRoundTrips) {
  const RunningRecord r =
      testing::sample_running("77", at_s(1'700'000'000), std::chrono::seconds(90));
  auto back = running_record_from_json(json::parse(to_json(r).dump()));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, r);
  json bad = to_json(r);
  bad["energy_charged"] = -1;
  EXPECT_EQ(running_record_from_json(bad).error(), "energy_charged: negative energy -1");
}

// Random records and random damage.

class Gen {
 public:
  explicit Gen(std::uint64_t seed) : rng_(seed) {}

  std::int64_t any_int64() {
    switch (pick(4)) {
      case 0:
        return std::numeric_limits<std::int64_t>::min() + pick(3);
      case 1:
        return std::numeric_limits<std::int64_t>::max() - pick(3);
      case 2:
        return static_cast<std::int64_t>(pick(2000)) - 1000;
      default:
        return static_cast<std::int64_t>(rng_());
    }
  }
  Microjoules energy() {
    return Microjoules(pick(2) == 0 ? static_cast<std::int64_t>(pick(1'000'000))
                                    : static_cast<std::int64_t>(rng_() >> 1));
  }
  int any_int() { return static_cast<int>(static_cast<std::uint32_t>(rng_())); }
  double finite_double() {
    switch (pick(5)) {
      case 0:
        return 0.0;
      case 1:
        return std::uniform_real_distribution<double>(0, 1)(rng_);
      case 2:
        return std::ldexp(std::uniform_real_distribution<double>(-1, 1)(rng_),
                          static_cast<int>(pick(2000)) - 1000);
      default: {
        double d;
        do {
          const std::uint64_t bits = rng_();
          std::memcpy(&d, &bits, sizeof d);
        } while (!std::isfinite(d));
        return d;
      }
    }
  }
  // Valid UTF-8 (what JSON text can hold): ASCII including control characters, and multi-byte
  // characters of every length.
  std::string text() {
    static const char* const kPieces[] = {"é", "日本", "🙂", "\"", "\\", "/", "\n", "\x7f"};
    std::string s;
    const auto n = pick(12);
    for (std::uint64_t i = 0; i < n; ++i) {
      if (pick(4) == 0) {
        s += kPieces[pick(std::size(kPieces))];
      } else {
        s += static_cast<char>(pick(128));
      }
    }
    return s;
  }
  JobRecord record() {
    JobRecord r;
    r.cluster = text();
    r.job_id = text();
    r.submit_time = from_us(any_int64());
    r.step = text();
    r.node = text();
    r.user = text();
    r.account = text();
    for (auto n = pick(4); n > 0; --n) r.tags[text()] = text();
    r.start = from_us(any_int64());
    r.end = from_us(any_int64());
    r.exit_code = any_int();
    for (auto n = pick(5); n > 0; --n) r.command.push_back(text());
    r.energy = {energy(), energy(), energy(), energy(), energy(), energy()};
    r.energy_charged = energy();
    r.machine_energy = energy();
    r.unallocated_energy = energy();
    r.method = text();
    r.gpu_count = any_int();
    r.gpu_model = text();
    r.cpus = finite_double();
    if (pick(2) == 0) r.work_count = finite_double();
    r.work_unit = text();
    r.intensity_kg_per_kwh = finite_double();
    r.intensity_zone = text();
    r.intensity_dataset = text();
    r.intensity_year = any_int();
    r.pue = finite_double();
    r.co2_kg = finite_double();
    r.report_json = text();
    return r;
  }
  // Return a JSON value of a random type.
  json value() {
    switch (pick(8)) {
      case 0:
        return nullptr;
      case 1:
        return pick(2) == 0;
      case 2:
        return any_int64();
      case 3:
        return static_cast<std::uint64_t>(rng_());
      case 4:
        return finite_double();
      case 5:
        return text();
      case 6:
        return json::array({text(), any_int64()});
      default:
        return json::object({{text(), any_int64()}});
    }
  }
  // Damage J in one random place: drop, retype or add a field, at the top or one level down.
  void mutate(json& j) {
    json* target = &j;
    if (pick(3) == 0) {
      json* nested = &j["energy"];
      if (pick(2) == 0 && j.contains("tags")) nested = &j["tags"];
      if (pick(2) == 0 && j.contains("command")) nested = &j["command"];
      target = nested;
    }
    if (!target->is_structured() || target->empty()) {
      *target = value();
      return;
    }
    auto it = target->begin();
    std::advance(it, static_cast<std::ptrdiff_t>(pick(target->size())));
    switch (pick(3)) {
      case 0:
        if (target->is_object()) {
          target->erase(it.key());
        } else {
          target->erase(it);
        }
        break;
      case 1:
        *it = value();
        break;
      default:
        if (target->is_object()) {
          (*target)[text()] = value();
        } else {
          target->push_back(value());
        }
    }
  }
  std::uint64_t pick(std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_);
  }

 private:
  std::mt19937_64 rng_;
};

TEST(RecordJsonProperty, RandomRecordsRoundTripEqual) {
  Gen gen(20261127);
  for (int i = 0; i < 2000; ++i) {
    const JobRecord r = gen.record();
    const std::string text = to_json(r).dump();
    auto back = job_record_from_json(json::parse(text));
    ASSERT_TRUE(back) << back.error() << "\n" << text;
    ASSERT_EQ(*back, r) << text;
    // Bit-exact doubles (operator== takes -0.0 for 0.0).
    ASSERT_EQ(std::signbit(back->co2_kg), std::signbit(r.co2_kg)) << text;

    const NodeIdle idle{gen.text(), gen.text(), from_us(gen.any_int64()), from_us(gen.any_int64()),
                        gen.energy()};
    auto idle_back = node_idle_from_json(json::parse(to_json(idle).dump()));
    ASSERT_TRUE(idle_back) << idle_back.error();
    ASSERT_EQ(*idle_back, idle);
  }
}

TEST(RecordJsonProperty, DamagedJsonNeverCrashesAndNeverDecodesToGarbage) {
  Gen gen(4);
  int refused = 0;
  for (int i = 0; i < 5000; ++i) {
    const JobRecord original = gen.record();
    json j = to_json(original);
    const auto mutations = 1 + gen.pick(3);
    for (std::uint64_t m = 0; m < mutations; ++m) gen.mutate(j);
    auto r = job_record_from_json(j);
    if (!r) {
      ++refused;
      EXPECT_FALSE(r.error().empty());
      EXPECT_NE(r.error().find(':'), std::string::npos) << r.error();  // "field: problem"
      continue;
    }
    // Decoded: then it is exactly what the damaged JSON says (re-encoding gives it back), with
    // no negative energy.
    EXPECT_EQ(to_json(*r), [&] {
      json expected = j;
      if (!expected.contains("work_count")) expected["work_count"] = nullptr;
      return expected;
    }());
    EXPECT_GE(r->energy.gpu.value, 0);
    EXPECT_GE(r->energy_charged.value, 0);
  }
  // Almost every mutation must be caught: only a changed value of the right type passes.
  EXPECT_GT(refused, 3000);

  // Damaged text: flipped, dropped and inserted bytes, then parsed without exceptions.
  const std::string text = to_json(sample_record("1", at_s(100))).dump();
  for (int i = 0; i < 5000; ++i) {
    std::string t = text;
    for (auto n = 1 + gen.pick(4); n > 0; --n) {
      const auto at = gen.pick(t.size());
      switch (gen.pick(3)) {
        case 0:
          t[at] = static_cast<char>(gen.pick(256));
          break;
        case 1:
          t.erase(at, 1);
          break;
        default:
          t.insert(at, 1, static_cast<char>(gen.pick(256)));
      }
    }
    const json parsed = json::parse(t, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) continue;
    (void)job_record_from_json(parsed);
    (void)node_idle_from_json(parsed);
    (void)running_record_from_json(parsed);
  }
}

}  // namespace
}  // namespace jobcarbon::ledger
