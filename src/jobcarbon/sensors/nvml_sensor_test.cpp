// Tests of the NVML sensor against the fake libnvidia-ml.so.1 built from tests/fake_nvml/.
#include <jobcarbon/sensors/nvml_sensor.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jobcarbon::sensors {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const std::string kFakeNvml = JOBCARBON_BINARY_DIR "/tests/fake_nvml/libnvidia-ml.so.1";

const char* kUuid0 = "GPU-6d0e5a3c-1f2b-4c5d-8e9f-0a1b2c3d4e5f";
const char* kUuid1 = "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6";

// A scratch directory holding a scenario file, with FAKE_NVML_SCENARIO pointing at it for the
// test's duration.
class NvmlSensorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kFakeNvml))
        << kFakeNvml << " is missing: build the fake_nvml target before sensors_test";
    dir_ = std::filesystem::temp_directory_path() /
           ("jobcarbon_nvml_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    ::unsetenv("FAKE_NVML_SCENARIO");
    std::filesystem::remove_all(dir_);
  }

  void write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name) << content;
  }

  // Write the scenario and point the fake library at it.
  void scenario(const std::string& content) {
    write("scenario", content);
    ::setenv("FAKE_NVML_SCENARIO", (dir_ / "scenario").c_str(), 1);
  }

  // Replace a state file the way another process should: write a new file, rename over.
  void set_state(const std::string& name, const std::string& content) {
    write(name + ".new", content);
    std::filesystem::rename(dir_ / (name + ".new"), dir_ / name);
  }

  std::vector<Reading> read(Sensor& sensor) {
    std::vector<Reading> out;
    sensor.read(out);
    return out;
  }

  std::filesystem::path dir_;
};

TEST_F(NvmlSensorTest, MissingLibraryIsUnavailableWithReason) {
  const Probe probe = probe_nvml("/nonexistent/libnvidia-ml.so.1");
  EXPECT_EQ(probe.name, "nvml");
  EXPECT_EQ(probe.sensor, nullptr);
  EXPECT_THAT(probe.unavailable_reason,
              AllOf(HasSubstr("no NVIDIA driver: /nonexistent/libnvidia-ml.so.1 not found"),
                    HasSubstr("(dlopen: ")));
}

TEST_F(NvmlSensorTest, LibraryWithoutNvmlFunctionsIsUnavailable) {
  // libm is on every machine and lacks every NVML symbol; the first one looked up is named.
  const Probe probe = probe_nvml("libm.so.6");
  EXPECT_EQ(probe.sensor, nullptr);
  EXPECT_THAT(probe.unavailable_reason,
              AllOf(HasSubstr("libm.so.6 is not a usable NVML library"), HasSubstr("nvmlInit_v2")));
}

TEST_F(NvmlSensorTest, NoScenarioMeansDriverNotLoaded) {
  ::unsetenv("FAKE_NVML_SCENARIO");
  const Probe probe = probe_nvml(kFakeNvml);
  EXPECT_EQ(probe.sensor, nullptr);
  EXPECT_EQ(probe.unavailable_reason, "nvmlInit failed: Driver Not Loaded (NVML error 9)");
}

TEST_F(NvmlSensorTest, InitErrorFromScenarioIsReported) {
  scenario("init_error 4\ngpu\n");
  const Probe probe = probe_nvml(kFakeNvml);
  EXPECT_EQ(probe.sensor, nullptr);
  EXPECT_EQ(probe.unavailable_reason, "nvmlInit failed: Insufficient Permissions (NVML error 4)");
}

TEST_F(NvmlSensorTest, NoGpuIsUnavailable) {
  scenario("# a driver, no board\n");
  const NvmlProbe result = probe_nvml_with_gpus(kFakeNvml);
  EXPECT_EQ(result.probe.sensor, nullptr);
  EXPECT_EQ(result.probe.unavailable_reason, "NVML found no GPU");
  EXPECT_THAT(result.gpus, IsEmpty());
}

TEST_F(NvmlSensorTest, TwoGpusWithCountersReadExactMicrojoules) {
  scenario(std::string("gpu\nuuid ") + kUuid0 +
           "\nname NVIDIA H100 80GB HBM3\npci_bus_id 00000000:17:00.0\nenergy_mj 123456789\n"
           "gpu\nuuid " +
           kUuid1 + "\nname NVIDIA H100 80GB HBM3\npci_bus_id 00000000:2A:00.0\nenergy_mj 42\n");
  NvmlProbe result = probe_nvml_with_gpus(kFakeNvml);
  ASSERT_NE(result.probe.sensor, nullptr) << result.probe.unavailable_reason;
  EXPECT_THAT(result.probe.notes, IsEmpty());
  Sensor& sensor = *result.probe.sensor;
  EXPECT_EQ(sensor.name(), "nvml");

  const auto& channels = sensor.channels();
  ASSERT_THAT(channels, SizeIs(2));
  EXPECT_EQ(channels[0].id, std::string("nvml:") + kUuid0);
  EXPECT_EQ(channels[0].label, "NVIDIA H100 80GB HBM3 (GPU 0)");
  EXPECT_EQ(channels[0].domain, Domain::kGpu);
  EXPECT_EQ(channels[0].kind, ChannelKind::kEnergyCounter);
  EXPECT_EQ(channels[0].wrap_range, std::nullopt);
  EXPECT_TRUE(channels[0].additive);
  EXPECT_EQ(channels[0].device, kUuid0);
  EXPECT_EQ(channels[1].id, std::string("nvml:") + kUuid1);
  EXPECT_EQ(channels[1].label, "NVIDIA H100 80GB HBM3 (GPU 1)");
  EXPECT_EQ(channels[1].device, kUuid1);

  const auto readings = read(sensor);
  ASSERT_THAT(readings, SizeIs(2));
  ASSERT_TRUE(readings[0].has_value()) << readings[0].error();
  EXPECT_EQ(*readings[0], 123'456'789'000);  // mJ × 1000
  ASSERT_TRUE(readings[1].has_value()) << readings[1].error();
  EXPECT_EQ(*readings[1], 42'000);

  ASSERT_THAT(result.gpus, SizeIs(2));
  EXPECT_EQ(result.gpus[0].nvml_index, 0);
  EXPECT_EQ(result.gpus[0].uuid, kUuid0);
  EXPECT_EQ(result.gpus[0].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(result.gpus[0].pci_bus_id, "00000000:17:00.0");
  EXPECT_TRUE(result.gpus[0].has_energy_counter);
  EXPECT_EQ(result.gpus[1].nvml_index, 1);
  EXPECT_EQ(result.gpus[1].pci_bus_id, "00000000:2A:00.0");
}

TEST_F(NvmlSensorTest, GpuWithoutEnergyCounterIsSampledPowerWithNote) {
  scenario(std::string("gpu\nuuid ") + kUuid0 + "\nname NVIDIA H100 80GB HBM3\nenergy_mj 5\n" +
           "gpu\nuuid " + kUuid1 +
           "\nname Tesla P100-PCIE-16GB\nenergy_counter no\npower_mw 31250\n");
  NvmlProbe result = probe_nvml_with_gpus(kFakeNvml);
  ASSERT_NE(result.probe.sensor, nullptr) << result.probe.unavailable_reason;
  const auto& channels = result.probe.sensor->channels();
  ASSERT_THAT(channels, SizeIs(2));
  EXPECT_EQ(channels[0].kind, ChannelKind::kEnergyCounter);
  EXPECT_EQ(channels[1].kind, ChannelKind::kPower);
  EXPECT_EQ(channels[1].label, "Tesla P100-PCIE-16GB (GPU 1)");
  EXPECT_THAT(result.probe.notes,
              ElementsAre(AllOf(HasSubstr("GPU 1 (Tesla P100-PCIE-16GB, "), HasSubstr(kUuid1),
                                HasSubstr("has no energy counter"),
                                HasSubstr("power is sampled and integrated"))));
  EXPECT_TRUE(result.gpus[0].has_energy_counter);
  EXPECT_FALSE(result.gpus[1].has_energy_counter);

  const auto readings = read(*result.probe.sensor);
  ASSERT_TRUE(readings[1].has_value()) << readings[1].error();
  EXPECT_EQ(*readings[1], 31'250'000);  // 31.25 W in µW
}

TEST_F(NvmlSensorTest, GpuLostMidRunGivesErrorReadingsOthersUnaffected) {
  // lost_after counts every read call on that GPU, the probe's check included: probe + 2 reads
  // succeed, then the GPU falls off the bus.
  scenario(std::string("gpu\nuuid ") + kUuid0 + "\nenergy_mj 1000\nlost_after 3\n" + "gpu\nuuid " +
           kUuid1 + "\nenergy_mj 2000\n");
  Probe probe = probe_nvml(kFakeNvml);
  ASSERT_NE(probe.sensor, nullptr) << probe.unavailable_reason;
  for (int i = 0; i < 2; ++i) {
    const auto readings = read(*probe.sensor);
    ASSERT_TRUE(readings[0].has_value()) << "read " << i << ": " << readings[0].error();
    EXPECT_EQ(*readings[0], 1'000'000);
  }
  for (int i = 0; i < 2; ++i) {
    const auto readings = read(*probe.sensor);
    ASSERT_THAT(readings, SizeIs(2));
    ASSERT_FALSE(readings[0].has_value());
    EXPECT_EQ(readings[0].error(),
              "nvmlDeviceGetTotalEnergyConsumption: GPU is lost (NVML error 15)");
    ASSERT_TRUE(readings[1].has_value()) << readings[1].error();
    EXPECT_EQ(*readings[1], 2'000'000);
  }
}

TEST_F(NvmlSensorTest, StateFileAdvancedBetweenReadsIsSeen) {
  set_state("gpu0.state", "1000 50000\n");
  set_state("gpu1.state", "0 75000\n");
  // Relative state_file paths are relative to the scenario's directory.
  scenario(std::string("gpu\nuuid ") + kUuid0 + "\nstate_file gpu0.state\n" + "gpu\nuuid " +
           kUuid1 + "\nenergy_counter no\nstate_file " + (dir_ / "gpu1.state").string() + "\n");
  Probe probe = probe_nvml(kFakeNvml);
  ASSERT_NE(probe.sensor, nullptr) << probe.unavailable_reason;

  auto readings = read(*probe.sensor);
  ASSERT_TRUE(readings[0].has_value()) << readings[0].error();
  EXPECT_EQ(*readings[0], 1'000'000);
  ASSERT_TRUE(readings[1].has_value()) << readings[1].error();
  EXPECT_EQ(*readings[1], 75'000'000);

  set_state("gpu0.state", "2500 61000\n");
  set_state("gpu1.state", "0 80001\n");
  readings = read(*probe.sensor);
  EXPECT_EQ(*readings[0], 2'500'000);
  EXPECT_EQ(*readings[1], 80'001'000);

  // Another process advances the counter (what the end-to-end tests do).
  const std::string command = "printf '9876543 1\\n' > " + (dir_ / "gpu0.state").string();
  ASSERT_EQ(std::system(command.c_str()), 0);
  readings = read(*probe.sensor);
  EXPECT_EQ(*readings[0], 9'876'543'000);

  set_state("gpu0.state", "lost\n");
  set_state("gpu1.state", "lost\n");
  readings = read(*probe.sensor);
  ASSERT_FALSE(readings[0].has_value());
  EXPECT_EQ(readings[0].error(),
            "nvmlDeviceGetTotalEnergyConsumption: GPU is lost (NVML error 15)");
  ASSERT_FALSE(readings[1].has_value());
  EXPECT_EQ(readings[1].error(), "nvmlDeviceGetPowerUsage: GPU is lost (NVML error 15)");
}

TEST_F(NvmlSensorTest, TraceGivesOneEntryPerCall) {
  // The probe's support check takes the first entry; each read() takes exactly one more, which
  // shows the sensor calls NVML once per GPU per read. The last entry repeats.
  scenario(std::string("gpu\nuuid ") + kUuid0 + "\nenergy_trace 10 20 30 lost 50\n" + "gpu\nuuid " +
           kUuid1 + "\nenergy_counter no\npower_trace 7 8 9\n");
  Probe probe = probe_nvml(kFakeNvml);
  ASSERT_NE(probe.sensor, nullptr) << probe.unavailable_reason;
  std::vector<std::string> energy;
  std::vector<std::string> power;
  for (int i = 0; i < 5; ++i) {
    const auto readings = read(*probe.sensor);
    energy.push_back(readings[0] ? std::to_string(*readings[0]) : readings[0].error());
    power.push_back(readings[1] ? std::to_string(*readings[1]) : readings[1].error());
  }
  EXPECT_THAT(energy,
              ElementsAre("20000", "30000",
                          "nvmlDeviceGetTotalEnergyConsumption: GPU is lost (NVML error 15)",
                          "50000", "50000"));
  EXPECT_THAT(power, ElementsAre("8000", "9000", "9000", "9000", "9000"));
}

TEST_F(NvmlSensorTest, GpuWithoutPermissionIsLeftOutWithNote) {
  // NVML counts a GPU outside the job's device cgroup but will not open it.
  scenario(std::string("gpu\nuuid ") + kUuid0 + "\nhandle_error 4\n" + "gpu\nuuid " + kUuid1 +
           "\nname NVIDIA A100-SXM4-40GB\nenergy_mj 3\n");
  NvmlProbe result = probe_nvml_with_gpus(kFakeNvml);
  ASSERT_NE(result.probe.sensor, nullptr) << result.probe.unavailable_reason;
  const auto& channels = result.probe.sensor->channels();
  ASSERT_THAT(channels, SizeIs(1));
  EXPECT_EQ(channels[0].device, kUuid1);
  EXPECT_EQ(channels[0].label, "NVIDIA A100-SXM4-40GB (GPU 1)");
  EXPECT_THAT(result.probe.notes,
              ElementsAre("GPU 0 left out: nvmlDeviceGetHandleByIndex: Insufficient Permissions "
                          "(NVML error 4)"));
  ASSERT_THAT(result.gpus, SizeIs(1));
  EXPECT_EQ(result.gpus[0].nvml_index, 1);
  EXPECT_EQ(*read(*result.probe.sensor)[0], 3'000);
}

TEST_F(NvmlSensorTest, NoReadableGpuIsUnavailableWithNotes) {
  set_state("gpu0.state", "lost\n");
  scenario(std::string("gpu\nuuid ") + kUuid0 + "\nname NVIDIA H100 80GB HBM3\n" +
           "state_file gpu0.state\n");
  const NvmlProbe result = probe_nvml_with_gpus(kFakeNvml);
  EXPECT_EQ(result.probe.sensor, nullptr);
  EXPECT_EQ(result.probe.unavailable_reason, "NVML found 1 GPU but none can be read (see notes)");
  EXPECT_THAT(result.probe.notes,
              ElementsAre(AllOf(HasSubstr("GPU 0 (NVIDIA H100 80GB HBM3, "),
                                HasSubstr("nvmlDeviceGetTotalEnergyConsumption: GPU is lost"))));
  // Still listed: CUDA can see it, so GPU selection must count it.
  ASSERT_THAT(result.gpus, SizeIs(1));
  EXPECT_EQ(result.gpus[0].uuid, kUuid0);
}

TEST_F(NvmlSensorTest, BadScenarioFailsLoudly) {
  scenario("gpu\nenergy_mj twelve\n");
  const Probe probe = probe_nvml(kFakeNvml);
  EXPECT_EQ(probe.sensor, nullptr);
  EXPECT_EQ(probe.unavailable_reason, "nvmlInit failed: Unknown Error (NVML error 999)");
}

TEST_F(NvmlSensorTest, SensorReleasesNvmlSoANewProbeSeesANewScenario) {
  scenario("gpu\nenergy_mj 1\n");
  {
    Probe first = probe_nvml(kFakeNvml);
    ASSERT_NE(first.sensor, nullptr) << first.unavailable_reason;
    EXPECT_THAT(first.sensor->channels(), SizeIs(1));
  }
  scenario("gpu\ngpu\ngpu\n");
  Probe second = probe_nvml(kFakeNvml);
  ASSERT_NE(second.sensor, nullptr) << second.unavailable_reason;
  EXPECT_THAT(second.sensor->channels(), SizeIs(3));
}

}  // namespace
}  // namespace jobcarbon::sensors
