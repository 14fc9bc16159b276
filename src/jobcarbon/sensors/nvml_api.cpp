#include <jobcarbon/sensors/nvml_api.hpp>

#include <cstring>

#include <fmt/format.h>

namespace jobcarbon::sensors {

namespace {

// Fill one table entry; record the first symbol that is missing.
template <typename F>
void bind(const os::SharedLibrary& library, const char* name, F*& slot, std::string& missing) {
  if (!missing.empty()) return;
  auto function = library.function<F>(name);
  if (function) {
    slot = *function;
  } else {
    missing = function.error();
  }
}

std::string code_text(const char* text, nvml::Return r) {
  return fmt::format("{} (NVML error {})", text != nullptr ? text : "unknown error", r);
}

}  // namespace

std::expected<std::unique_ptr<NvmlApi>, std::string> NvmlApi::open(
    const std::string& library_path) {
  auto library = os::SharedLibrary::open(library_path);
  if (!library) {
    // dlerror's text does not distinguish "absent" by code, only by words; the common case
    // (no driver installed) deserves the plain sentence.
    const bool absent = library.error().find("No such file") != std::string::npos;
    return std::unexpected(fmt::format("no NVIDIA driver: {} {} (dlopen: {})", library_path,
                                       absent ? "not found" : "cannot be loaded", library.error()));
  }

  nvml::Functions fn{};
  std::string missing;
  bind(*library, "nvmlInit_v2", fn.init_v2, missing);
  bind(*library, "nvmlShutdown", fn.shutdown, missing);
  bind(*library, "nvmlErrorString", fn.error_string, missing);
  bind(*library, "nvmlDeviceGetCount_v2", fn.device_get_count_v2, missing);
  bind(*library, "nvmlDeviceGetHandleByIndex_v2", fn.device_get_handle_by_index_v2, missing);
  bind(*library, "nvmlDeviceGetName", fn.device_get_name, missing);
  bind(*library, "nvmlDeviceGetUUID", fn.device_get_uuid, missing);
  bind(*library, "nvmlDeviceGetPciInfo_v3", fn.device_get_pci_info_v3, missing);
  bind(*library, "nvmlDeviceGetTotalEnergyConsumption", fn.device_get_total_energy_consumption,
       missing);
  bind(*library, "nvmlDeviceGetPowerUsage", fn.device_get_power_usage, missing);
  if (!missing.empty()) {
    return std::unexpected(fmt::format(
        "{} is not a usable NVML library (a driver too old for jobcarbon, or not NVML): {}",
        library_path, missing));
  }

  if (const nvml::Return r = fn.init_v2(); r != nvml::kSuccess) {
    // No nvmlShutdown after a failed init; the library is closed by its destructor.
    return std::unexpected(fmt::format("nvmlInit failed: {}", code_text(fn.error_string(r), r)));
  }
  return std::unique_ptr<NvmlApi>(new NvmlApi(std::move(*library), fn));
}

NvmlApi::~NvmlApi() {
  // Before library_ is destroyed (members go after the destructor body): the functions live
  // in the library.
  fn_.shutdown();
}

std::expected<unsigned, nvml::Return> NvmlApi::device_count() const {
  unsigned count = 0;
  if (const auto r = fn_.device_get_count_v2(&count); r != nvml::kSuccess) {
    return std::unexpected(r);
  }
  return count;
}

std::expected<nvml::Device, nvml::Return> NvmlApi::device_handle(unsigned i) const {
  nvml::Device device = nullptr;
  if (const auto r = fn_.device_get_handle_by_index_v2(i, &device); r != nvml::kSuccess) {
    return std::unexpected(r);
  }
  return device;
}

std::expected<std::string, nvml::Return> NvmlApi::device_name(nvml::Device d) const {
  char buffer[nvml::kNameBufferSize] = {};
  if (const auto r = fn_.device_get_name(d, buffer, sizeof buffer); r != nvml::kSuccess) {
    return std::unexpected(r);
  }
  return std::string(buffer, ::strnlen(buffer, sizeof buffer));
}

std::expected<std::string, nvml::Return> NvmlApi::device_uuid(nvml::Device d) const {
  char buffer[nvml::kUuidBufferSize] = {};
  if (const auto r = fn_.device_get_uuid(d, buffer, sizeof buffer); r != nvml::kSuccess) {
    return std::unexpected(r);
  }
  return std::string(buffer, ::strnlen(buffer, sizeof buffer));
}

std::expected<std::string, nvml::Return> NvmlApi::device_pci_bus_id(nvml::Device d) const {
  nvml::PciInfo info{};
  if (const auto r = fn_.device_get_pci_info_v3(d, &info); r != nvml::kSuccess) {
    return std::unexpected(r);
  }
  return std::string(info.bus_id, ::strnlen(info.bus_id, sizeof info.bus_id));
}

std::expected<std::uint64_t, nvml::Return> NvmlApi::total_energy_mj(nvml::Device d) const {
  unsigned long long millijoules = 0;
  if (const auto r = fn_.device_get_total_energy_consumption(d, &millijoules);
      r != nvml::kSuccess) {
    return std::unexpected(r);
  }
  return static_cast<std::uint64_t>(millijoules);
}

std::expected<std::uint32_t, nvml::Return> NvmlApi::power_mw(nvml::Device d) const {
  unsigned int milliwatts = 0;
  if (const auto r = fn_.device_get_power_usage(d, &milliwatts); r != nvml::kSuccess) {
    return std::unexpected(r);
  }
  return static_cast<std::uint32_t>(milliwatts);
}

std::string NvmlApi::error_text(nvml::Return r) const {
  return code_text(fn_.error_string(r), r);
}

}  // namespace jobcarbon::sensors
