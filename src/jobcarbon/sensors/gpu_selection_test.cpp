#include <jobcarbon/sensors/gpu_selection.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace jobcarbon::sensors {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kA = "GPU-11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const std::string kB = "GPU-22222222-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const std::string kC = "GPU-22223333-cccc-4ccc-8ccc-cccccccccccc";

// Three GPUs of one model whose NVML order is not their PCI order, so a test can tell the two
// apart: in PCI order (CUDA's for one model) B (1a) is CUDA 0, A (3b) is 1, C (86) is 2.
std::vector<GpuInfo> same_model() {
  return {
      {0, kA, "NVIDIA A100-SXM4-40GB", "00000000:3B:00.0", true},
      {1, kB, "NVIDIA A100-SXM4-40GB", "00000000:1a:00.0", true},
      {2, kC, "NVIDIA A100-SXM4-40GB", "0000:86:00.0", true},  // shorter domain: still parsed
  };
}

// Two models: where CUDA's default order cannot be known.
std::vector<GpuInfo> mixed_models() {
  return {
      {0, kA, "Tesla V100-PCIE-16GB", "00000000:18:00.0", true},
      {1, kB, "NVIDIA A100-PCIE-40GB", "00000000:AF:00.0", true},
  };
}

struct Case {
  const char* name;
  std::optional<std::string> visible;
  std::vector<std::string> uuids;
  std::vector<std::string> warning_parts;  // one substring per expected warning, in order
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class SameModelTable : public ::testing::TestWithParam<Case> {};

TEST_P(SameModelTable, SelectsWhatCudaShows) {
  const Case& c = GetParam();
  for (const auto& order :
       {std::optional<std::string>(), std::optional<std::string>("FASTEST_FIRST"),
        std::optional<std::string>("PCI_BUS_ID")}) {
    const auto selection = select_gpus(same_model(), c.visible, order);
    ASSERT_TRUE(selection.has_value()) << selection.error();
    EXPECT_EQ(selection->uuids, c.uuids) << "CUDA_DEVICE_ORDER=" << order.value_or("(unset)");
    ASSERT_EQ(selection->warnings.size(), c.warning_parts.size())
        << ::testing::PrintToString(selection->warnings);
    for (std::size_t i = 0; i < c.warning_parts.size(); ++i) {
      EXPECT_THAT(selection->warnings[i], HasSubstr(c.warning_parts[i]));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    GpuSelection, SameModelTable,
    ::testing::Values(
        Case{"Unset", std::nullopt, {kB, kA, kC}, {}}, Case{"Empty", "", {}, {}},
        Case{"IndexIsCudaOrderNotNvml", "0", {kB}, {}},
        Case{"IndicesInListedOrder", "2,0", {kC, kB}, {}},
        Case{"SpacesAroundEntries", " 2 , 1 ", {kC, kA}, {}}, Case{"FullUuid", kA, {kA}, {}},
        Case{"UniqueUuidPrefix", "GPU-1111", {kA}, {}},
        Case{"LongerPrefixResolvesSharedStart", "GPU-22223", {kC}, {}},
        Case{"UuidCaseInsensitive", "gpu-22222222-BBBB", {kB}, {}},
        Case{"UuidsAndIndicesMixed", "GPU-22223,0", {kC, kB}, {}},
        // CUDA's own documented example: 0,2,-1,1 shows devices 0 and 2 only.
        Case{"InvalidIndexStopsList",
             "0,2,-1,1",
             {kB, kC},
             {"entry '-1' is not a GPU index (0 to 2) nor a GPU UUID: CUDA ignores it and every "
              "entry after it ('1')"}},
        Case{"IndexOutOfRangeStops", "1,3,0", {kA}, {"entry '3' is not a GPU index (0 to 2)"}},
        Case{"AmbiguousPrefixStops", "GPU-2222,0", {}, {"is a prefix of 2 GPUs' UUIDs"}},
        Case{"UnknownUuidStops", "0,GPU-9999", {kB}, {"'GPU-9999' matches no GPU"}},
        Case{"EmptyEntryStops",
             "0,,1",
             {kB},
             {"entry '' is not a GPU index (0 to 2) nor a GPU UUID: CUDA ignores it and every "
              "entry after it ('1')"}},
        Case{"GarbageStops", "cuda0", {}, {"entry 'cuda0'"}},
        Case{"RepeatKeptOnce", "1,1,GPU-1111", {kA}, {"twice", "twice"}}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(GpuSelection, MigInstanceIsAnError) {
  const auto selection = select_gpus(same_model(), "MIG-" + kA + "/1/0", std::nullopt);
  ASSERT_FALSE(selection.has_value());
  EXPECT_THAT(selection.error(), AllOf(HasSubstr("MIG instance"), HasSubstr("--exclusive")));
  const auto modern =
      select_gpus(same_model(), "MIG-5c4a1b2c-3d4e-5f60-7182-93a4b5c6d7e8", std::nullopt);
  EXPECT_FALSE(modern.has_value());
}

TEST(GpuSelection, MigAfterInvalidEntryIsIgnoredLikeCuda) {
  const auto selection = select_gpus(same_model(), "0,-1,MIG-abc", std::nullopt);
  ASSERT_TRUE(selection.has_value()) << selection.error();
  EXPECT_THAT(selection->uuids, ElementsAre(kB));
}

TEST(GpuSelection, MixedModelsWithIndicesWarnUnderFastestFirst) {
  for (const auto& order :
       {std::optional<std::string>(), std::optional<std::string>("FASTEST_FIRST")}) {
    const auto selection = select_gpus(mixed_models(), "1", order);
    ASSERT_TRUE(selection.has_value());
    // PCI order is the documented guess: 18 (V100) is CUDA 0, AF (A100) is CUDA 1.
    EXPECT_THAT(selection->uuids, ElementsAre(kB));
    ASSERT_THAT(selection->warnings, ::testing::SizeIs(1));
    EXPECT_THAT(selection->warnings[0],
                AllOf(HasSubstr("2 GPU models"), HasSubstr("FASTEST_FIRST"),
                      HasSubstr("0 -> " + kA + " (Tesla V100-PCIE-16GB)"),
                      HasSubstr("Use GPU UUIDs"), HasSubstr("CUDA_DEVICE_ORDER=PCI_BUS_ID")));
  }
}

TEST(GpuSelection, MixedModelsWithPciBusIdOrderAreExact) {
  const auto selection = select_gpus(mixed_models(), "1,0", "PCI_BUS_ID");
  ASSERT_TRUE(selection.has_value());
  EXPECT_THAT(selection->uuids, ElementsAre(kB, kA));
  EXPECT_THAT(selection->warnings, IsEmpty());
}

TEST(GpuSelection, MixedModelsWithUuidsOnlyNeedNoWarning) {
  const auto selection = select_gpus(mixed_models(), kB, std::nullopt);
  ASSERT_TRUE(selection.has_value());
  EXPECT_THAT(selection->uuids, ElementsAre(kB));
  EXPECT_THAT(selection->warnings, IsEmpty());
  const auto all = select_gpus(mixed_models(), std::nullopt, std::nullopt);
  EXPECT_THAT(all->uuids, ElementsAre(kA, kB));
  EXPECT_THAT(all->warnings, IsEmpty());
}

TEST(GpuSelection, UnknownDeviceOrderIsTreatedAsDefaultWithWarning) {
  const auto selection = select_gpus(same_model(), "0", "SLOWEST_FIRST");
  ASSERT_TRUE(selection.has_value());
  EXPECT_THAT(selection->uuids, ElementsAre(kB));
  EXPECT_THAT(selection->warnings,
              ElementsAre(AllOf(HasSubstr("CUDA_DEVICE_ORDER='SLOWEST_FIRST'"),
                                HasSubstr("assuming CUDA's default, FASTEST_FIRST"))));
}

TEST(GpuSelection, NoGpusOnMachine) {
  const auto none = select_gpus({}, std::nullopt, std::nullopt);
  ASSERT_TRUE(none.has_value());
  EXPECT_THAT(none->uuids, IsEmpty());
  const auto asked = select_gpus({}, "0", std::nullopt);
  ASSERT_TRUE(asked.has_value());
  EXPECT_THAT(asked->uuids, IsEmpty());
  EXPECT_THAT(asked->warnings, ElementsAre(HasSubstr("this machine has none")));
}

}  // namespace
}  // namespace jobcarbon::sensors
