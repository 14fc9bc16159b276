#include "fixture_machine.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include <jobcarbon/os/file.hpp>

namespace jobcarbon::bench {

namespace fs = std::filesystem;

namespace {

fs::path make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = fmt::format("{}/jobcarbon-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(fmt::format("mkdtemp {}: {}", pattern, std::strerror(errno)));
  }
  return pattern;
}

// Copy a sysfs fixture tree keeping its symlinks: following them would loop on device/subsystem.
void copy_tree(const fs::path& from, const fs::path& to) {
  if (!fs::is_directory(from)) throw std::runtime_error("fixture tree missing: " + from.string());
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

// Return the file an hwmon channel id "hwmon:<chip>:<device>:<base>" is read from: <base>_input
// for energy, <base>_average or else <base>_input for power (the sensor's choice), in the chip's
// directory or, for legacy drivers, its device/ directory. The device name may hold ':'.
fs::path hwmon_file(const std::string& id, const fs::path& root) {
  const auto first = id.find(':');
  const auto second = id.find(':', first + 1);
  const auto last = id.rfind(':');
  const std::string chip = id.substr(first + 1, second - first - 1);
  const std::string base = id.substr(last + 1);
  std::vector<std::string> names = {base + "_input"};
  if (base.starts_with("power")) names.insert(names.begin(), base + "_average");
  for (const auto& entry : fs::directory_iterator(root)) {
    for (const fs::path& dir : {entry.path(), entry.path() / "device"}) {
      const auto name = os::read_line(dir / "name");
      if (!name || *name != chip) continue;
      for (const auto& n : names) {
        if (fs::exists(dir / n)) return dir / n;
      }
    }
  }
  throw std::runtime_error("no file found for channel " + id);
}

}  // namespace

FixtureMachine::FixtureMachine(const fs::path& source_dir, const fs::path& binary_dir)
    : dir_(make_temp_dir()) {
  const fs::path fixtures = source_dir / "tests/fixtures/sysfs";
  copy_tree(fixtures / "intel-2socket-dram", dir_ / "intel-2socket-dram");
  copy_tree(fixtures / "power9-ibmpowernv", dir_ / "power9-ibmpowernv");
  const fs::path scenario = source_dir / "bench/fixtures/nvml-8gpu.scenario";
  const fs::path library = binary_dir / "tests/fake_nvml/libnvidia-ml.so.1";
  if (!fs::exists(scenario)) throw std::runtime_error("scenario missing: " + scenario.string());
  if (!fs::exists(library)) {
    throw std::runtime_error("fake NVML missing (build target fake_nvml): " + library.string());
  }
  ::setenv("FAKE_NVML_SCENARIO", scenario.c_str(), 1);
  paths_.powercap_root = dir_ / "intel-2socket-dram/class/powercap";
  paths_.hwmon_root = dir_ / "power9-ibmpowernv/class/hwmon";
  paths_.nvml_library = library.string();
}

FixtureMachine::~FixtureMachine() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

RawReads::RawReads(const std::vector<sensors::Channel>& channels,
                   const sensors::SensorPaths& paths) {
  unsigned gpu_channels = 0;
  for (const auto& c : channels) {
    if (c.id.starts_with("rapl:")) {
      files_.push_back(paths.powercap_root / c.id.substr(5) / "energy_uj");
    } else if (c.id.starts_with("hwmon:")) {
      files_.push_back(hwmon_file(c.id, paths.hwmon_root));
    } else if (c.id.starts_with("nvml:")) {
      if (c.kind != sensors::ChannelKind::kEnergyCounter) {
        throw std::runtime_error("expected GPUs with energy counters: " + c.id);
      }
      ++gpu_channels;
    } else {
      throw std::runtime_error("a channel the raw reads do not cover: " + c.id);
    }
  }
  for (const auto& f : files_) {
    if (auto v = os::read_int64(f); !v) throw std::runtime_error(v.error().message);
  }
  auto api = sensors::NvmlApi::open(paths.nvml_library);
  if (!api) throw std::runtime_error(api.error());
  nvml_ = std::move(*api);
  for (unsigned i = 0; i < gpu_channels; ++i) {
    auto h = nvml_->device_handle(i);
    if (!h) throw std::runtime_error(fmt::format("GPU {}: {}", i, nvml_->error_text(h.error())));
    gpus_.push_back(*h);
  }
}

std::int64_t RawReads::read_files() const {
  std::int64_t sum = 0;
  for (const auto& f : files_) sum += os::read_int64(f).value_or(0);
  return sum;
}

std::int64_t RawReads::read_gpus() const {
  std::int64_t sum = 0;
  for (const auto d : gpus_)
    sum += static_cast<std::int64_t>(nvml_->total_energy_mj(d).value_or(0));
  return sum;
}

}  // namespace jobcarbon::bench
