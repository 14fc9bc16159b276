#include <jobcarbon/energy/counter.hpp>
#include <jobcarbon/energy/meter.hpp>

#include <deque>

#include <gtest/gtest.h>

namespace jobcarbon::energy {
namespace {

using namespace std::chrono_literals;
using sensors::Channel;
using sensors::ChannelKind;
using sensors::Domain;
using sensors::Reading;

// A sensor that returns scripted readings, one row per read().
class ScriptedSensor final : public sensors::Sensor {
 public:
  ScriptedSensor(std::vector<Channel> channels, std::deque<std::vector<Reading>> rows)
      : channels_(std::move(channels)), rows_(std::move(rows)) {}
  std::string_view name() const override { return "scripted"; }
  const std::vector<Channel>& channels() const override { return channels_; }
  void read(std::vector<Reading>& out) override {
    out = rows_.front();
    if (rows_.size() > 1) rows_.pop_front();
  }

 private:
  std::vector<Channel> channels_;
  std::deque<std::vector<Reading>> rows_;
};

Channel counter(std::string id, std::optional<std::int64_t> wrap = std::nullopt) {
  Channel c;
  c.id = std::move(id);
  c.domain = Domain::kCpuPackage;
  c.kind = ChannelKind::kEnergyCounter;
  if (wrap) c.wrap_range = Microjoules(*wrap);
  return c;
}

Channel power(std::string id) {
  Channel c;
  c.id = std::move(id);
  c.domain = Domain::kGpu;
  c.kind = ChannelKind::kPower;
  return c;
}

TEST(CounterDelta, NormalWrapAndReset) {
  EXPECT_EQ(counter_delta(Microjoules(100), Microjoules(250), std::nullopt).energy,
            Microjoules(150));
  const auto w =
      counter_delta(Microjoules(262143328000), Microjoules(500), Microjoules(262143328850));
  EXPECT_EQ(w.energy, Microjoules(850 + 500));
  EXPECT_EQ(w.step, CounterStep::kWrapped);
  const auto r = counter_delta(Microjoules(1000), Microjoules(40), std::nullopt);
  EXPECT_EQ(r.energy, Microjoules(40));
  EXPECT_EQ(r.step, CounterStep::kReset);
}

TEST(Meter, CounterAcrossWrapIsExact) {
  std::vector<std::unique_ptr<sensors::Sensor>> s;
  s.push_back(std::make_unique<ScriptedSensor>(
      std::vector<Channel>{counter("pkg", 1'000'000)},
      std::deque<std::vector<Reading>>{{Reading(990'000)}, {Reading(999'000)}, {Reading(4'000)}}));
  os::FakeClock clock;
  Meter m(std::move(s), clock);
  m.start();
  clock.advance(1s);
  EXPECT_EQ(m.sample().energy[0], Microjoules(9'000));
  clock.advance(1s);
  EXPECT_EQ(m.sample().energy[0], Microjoules(1'000 + 4'000));
  EXPECT_EQ(m.states()[0].total, Microjoules(14'000));
  EXPECT_EQ(m.states()[0].wraps, 1);
  EXPECT_EQ(m.states()[0].peak_power, Microwatts(9'000));
}

TEST(Meter, CounterFailedReadsLoseNothing) {
  std::vector<std::unique_ptr<sensors::Sensor>> s;
  s.push_back(std::make_unique<ScriptedSensor>(
      std::vector<Channel>{counter("gpu")},
      std::deque<std::vector<Reading>>{
          {Reading(1'000)}, {Reading(std::unexpected("gone for a moment"))}, {Reading(7'000)}}));
  os::FakeClock clock;
  Meter m(std::move(s), clock);
  m.start();
  clock.advance(1s);
  EXPECT_EQ(m.sample().energy[0], Microjoules(0));
  clock.advance(1s);
  const auto& iv = m.sample();
  EXPECT_EQ(iv.energy[0], Microjoules(6'000));
  EXPECT_EQ(iv.covered[0], 2s);  // the delta covers the gap
  EXPECT_EQ(m.states()[0].errors, 1);
  EXPECT_EQ(m.states()[0].last_error, "gone for a moment");
  EXPECT_EQ(m.states()[0].covered, 2s);
}

TEST(Meter, PowerIsIntegratedByTrapezoidAndGapsAreNotCovered) {
  std::vector<std::unique_ptr<sensors::Sensor>> s;
  s.push_back(std::make_unique<ScriptedSensor>(
      std::vector<Channel>{power("old-gpu")},
      std::deque<std::vector<Reading>>{{Reading(100'000'000)},  // 100 W
                                       {Reading(300'000'000)},  // 300 W
                                       {Reading(std::unexpected("lost"))},
                                       {Reading(50'000'000)},
                                       {Reading(50'000'000)}}));
  os::FakeClock clock;
  Meter m(std::move(s), clock);
  m.start();
  clock.advance(2s);
  EXPECT_EQ(m.sample().energy[0], Microjoules(400'000'000));  // mean 200 W × 2 s
  clock.advance(1s);
  EXPECT_EQ(m.sample().energy[0], Microjoules(0));
  clock.advance(1s);
  EXPECT_EQ(m.sample().energy[0], Microjoules(0));  // first reading after the gap
  clock.advance(1s);
  EXPECT_EQ(m.sample().energy[0], Microjoules(50'000'000));
  EXPECT_EQ(m.states()[0].covered, 3s);
  EXPECT_EQ(m.states()[0].total, Microjoules(450'000'000));
}

TEST(Meter, UnreadSensorsShowNothingAndTheirNextReadCoversTheGap) {
  std::vector<std::unique_ptr<sensors::Sensor>> sensors;
  sensors.push_back(std::make_unique<ScriptedSensor>(
      std::vector<Channel>{counter("c")},
      std::deque<std::vector<Reading>>{{Reading(1'000)}, {Reading(4'000)}}));
  sensors.push_back(std::make_unique<ScriptedSensor>(
      std::vector<Channel>{power("p")},
      std::deque<std::vector<Reading>>{
          {Reading(10'000'000)}, {Reading(10'000'000)}, {Reading(10'000'000)}}));
  os::FakeClock clock;
  Meter m(std::move(sensors), clock);
  EXPECT_FALSE(m.power_only(0));
  EXPECT_TRUE(m.power_only(1));
  EXPECT_EQ(m.sensor_of_channel(1), 1u);
  m.start();
  clock.advance(1s);
  const auto& a = m.sample({false, true});
  EXPECT_EQ(a.energy[0], Microjoules(0));
  EXPECT_EQ(a.covered[0], Duration(0));
  EXPECT_EQ(a.energy[1], Microjoules(10'000'000));  // 10 W for 1 s
  clock.advance(1s);
  const auto& b = m.sample();
  EXPECT_EQ(b.energy[0], Microjoules(3'000));  // the whole delta since start()
  EXPECT_EQ(b.covered[0], Duration(2s));
  EXPECT_EQ(m.states()[0].total, Microjoules(3'000));
  EXPECT_EQ(m.last_read_durations().size(), 2u);
  EXPECT_TRUE(m.last_read_ok()[0]);
}

TEST(Meter, ResumeMeasuresFromTheSavedReadingAcrossTheGap) {
  std::vector<std::unique_ptr<sensors::Sensor>> sensors;
  sensors.push_back(std::make_unique<ScriptedSensor>(
      std::vector<Channel>{counter("c", 10'000), power("p")},
      std::deque<std::vector<Reading>>{{Reading(500), Reading(2'000'000)},
                                       {Reading(900), Reading(2'000'000)}}));
  os::FakeClock clock;
  Meter m(std::move(sensors), clock);
  const auto saved_at = clock.monotonic();
  const auto saved_wall = clock.wall();
  clock.advance(30s);  // the agent was down for 30 s
  // Saved 9'000 before the restart: the counter wrapped at 10'000 and now reads 500.
  m.resume(saved_at, saved_wall, {{0, 9'000}, {1, 123}});
  const auto& iv = m.sample();
  EXPECT_EQ(iv.start, saved_at);
  EXPECT_EQ(iv.energy[0], Microjoules(1'000 + 500));
  EXPECT_EQ(iv.covered[0], Duration(30s));
  EXPECT_EQ(iv.energy[1], Microjoules(0));  // power channels are not resumed: gap not measured
  clock.advance(1s);
  const auto& next = m.sample();
  EXPECT_EQ(next.energy[0], Microjoules(400));
  EXPECT_EQ(next.energy[1], Microjoules(2'000'000));
}

}  // namespace
}  // namespace jobcarbon::energy
