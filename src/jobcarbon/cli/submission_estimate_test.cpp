// Estimates at submission: which power per device is used (learned, table, default), and that
// recording jobs in the ledger changes the estimate.
#include <jobcarbon/cli/submission_estimate.hpp>

#include <gtest/gtest.h>

#include <jobcarbon/ledger/sqlite_store.hpp>
#include <jobcarbon/ledger/test_support.hpp>
#include <jobcarbon/testing/temp_dir.hpp>

namespace jobcarbon::cli {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

TEST(ChooseDevicePower, LearnedForTheModelThenTableThenLearnedForAllThenDefault) {
  const auto table = *carbon::GpuPowerTable::load_embedded();
  const ledger::TypicalPower nothing;
  ledger::TypicalPower all;
  all.gpu_watts = 250;
  all.gpu_jobs = 7;
  all.cpu_watts = 8;
  all.cpu_jobs = 3;
  ledger::TypicalPower h100;
  h100.gpu_watts = 460;
  h100.gpu_jobs = 2;

  const std::string model = "NVIDIA H100 80GB HBM3";
  auto p = choose_device_power(h100, all, table, model, 12, "cpu table");
  EXPECT_EQ(p.gpu.watts, 460);
  EXPECT_EQ(p.gpu.basis, "460 W learned from 2 jobs in the ledger on NVIDIA H100 80GB HBM3");
  EXPECT_EQ(p.cpu.watts, 8);
  p = choose_device_power(nothing, all, table, model, 12, "cpu table");
  EXPECT_EQ(p.gpu.watts, 700);  // the datasheet's, for the model asked for
  EXPECT_NE(p.gpu.basis.find("nothing learned yet for NVIDIA H100"), std::string::npos);
  p = choose_device_power(nothing, all, table, "", 12, "cpu table");
  EXPECT_EQ(p.gpu.watts, 250);
  EXPECT_EQ(p.gpu.basis, "250 W learned from 7 jobs in the ledger, all GPU models");
  p = choose_device_power(nothing, all, table, "Some Unknown GPU", 12, "cpu table");
  EXPECT_EQ(p.gpu.watts, 250);  // an unknown model: what the site's GPUs draw
  p = choose_device_power(nothing, nothing, table, "", 12, "cpu table");
  EXPECT_EQ(p.gpu.watts, 300);
  EXPECT_EQ(p.cpu.watts, 12);
  EXPECT_NE(p.cpu.basis.find("cpu table"), std::string::npos);
}

TEST(ChooseDevicePower, LearnedPowerNoDeviceCanDrawIsSetAsideAndSaid) {
  const auto table = *carbon::GpuPowerTable::load_embedded();
  ledger::TypicalPower broken;  // a fake GPU's 10 kWh in seconds, a faulty sensor
  broken.gpu_watts = 2.4e6;
  broken.gpu_jobs = 1;
  broken.cpu_watts = 5000;
  broken.cpu_jobs = 1;
  const std::string model = "NVIDIA H100 80GB HBM3";
  auto p = choose_device_power(broken, broken, table, model, 12, "cpu table");
  EXPECT_EQ(p.gpu.watts, 700);  // the table's row for the model
  EXPECT_NE(p.gpu.basis.find("learned 2400000 W per GPU ignored (above the plausible 2000 W"),
            std::string::npos)
      << p.gpu.basis;
  EXPECT_EQ(p.cpu.watts, 12);
  EXPECT_NE(p.cpu.basis.find("learned 5000 W per CPU ignored"), std::string::npos) << p.cpu.basis;
  p = choose_device_power(broken, broken, table, "", 12, "cpu table");
  EXPECT_EQ(p.gpu.watts, 300);  // the table default, and the learned value named once
  EXPECT_EQ(p.gpu.basis.find("ignored"), p.gpu.basis.rfind("ignored")) << p.gpu.basis;
  // At the limit a value is still believed.
  ledger::TypicalPower big;
  big.gpu_watts = kMaxPlausibleGpuWatts;
  big.gpu_jobs = 3;
  EXPECT_EQ(choose_device_power(big, big, table, model, 12, "t").gpu.watts, 2000);
}

TEST(EstimateSubmission, RecordedJobsChangeTheEstimate) {
  jobcarbon::testing::TempDir dir;
  auto store = std::move(*ledger::open_sqlite_store(dir / "l.db", ledger::OpenMode::kReadWrite));
  Settings s;
  s.intensity_kg_per_kwh = 0.5;
  s.pue = 1.2;
  const policy::JobResources job{2, 0, 1, hours(10)};
  const auto now = os::WallTime(seconds(1'777'593'600));

  auto before = estimate_submission(*store, job, "", s, now);
  ASSERT_TRUE(before) << before.error();
  // 2 × 300 W (table default) × 10 h = 6 kWh × 1.2 × 0.5 = 3.6 kg.
  EXPECT_DOUBLE_EQ(before->estimate.kwh, 6.0);
  EXPECT_NEAR(before->estimate.co2.value, 3.6, 1e-12);

  // One finished job: 4 GPUs for 1000 s using 600 kJ: 150 W per GPU.
  auto r = ledger::testing::sample_record("a", ledger::Timestamp(seconds(1'777'000'000)));
  r.end = r.start + seconds(1000);
  r.gpu_count = 4;
  r.energy = {Microjoules(600'000'000'000), {}, {}, {}, {}, {}};
  r.energy_charged = r.energy.total();
  ASSERT_EQ(store->append(r), true);
  auto after = estimate_submission(*store, job, "", s, now);
  ASSERT_TRUE(after) << after.error();
  EXPECT_DOUBLE_EQ(after->power.gpu.watts, 150.0);
  EXPECT_DOUBLE_EQ(after->estimate.kwh, 3.0);
  EXPECT_NEAR(after->estimate.co2.value, 1.8, 1e-12);
}

TEST(EstimateSubmission, BadResourcesAndIntensityChoicesAreErrors) {
  jobcarbon::testing::TempDir dir;
  auto store = std::move(*ledger::open_sqlite_store(dir / "l.db", ledger::OpenMode::kReadWrite));
  Settings s;
  s.country = "Atlantis";
  const auto now = os::WallTime(seconds(1'777'593'600));
  auto bad_zone = estimate_submission(*store, {1, 0, 1, hours(1)}, "", s, now);
  ASSERT_FALSE(bad_zone);
  EXPECT_NE(bad_zone.error().find("Atlantis"), std::string::npos) << bad_zone.error();
  auto no_devices = estimate_submission(*store, {0, 0, 1, hours(1)}, "", Settings{}, now);
  ASSERT_FALSE(no_devices);
  EXPECT_NE(no_devices.error().find("no GPU and no CPU"), std::string::npos);
}

}  // namespace
}  // namespace jobcarbon::cli
