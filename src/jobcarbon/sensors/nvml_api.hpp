// The few NVML functions jobcarbon calls, reached through a table of function pointers filled
// by dlsym from a library opened at run time. nvml.h is not needed to build: the types below
// are declared from NVML's documented C API (same layout and values as nvml.h).
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include <jobcarbon/os/shared_library.hpp>

namespace jobcarbon::sensors {

// NVML's C types, as nvml.h declares them.
namespace nvml {

using Return = int;  // nvmlReturn_t: a C enum, int-sized
inline constexpr Return kSuccess = 0;
inline constexpr Return kErrorUninitialized = 1;
inline constexpr Return kErrorInvalidArgument = 2;
inline constexpr Return kErrorNotSupported = 3;
inline constexpr Return kErrorNoPermission = 4;
inline constexpr Return kErrorNotFound = 6;
inline constexpr Return kErrorInsufficientSize = 7;
inline constexpr Return kErrorDriverNotLoaded = 9;
inline constexpr Return kErrorGpuIsLost = 15;
inline constexpr Return kErrorUnknown = 999;

struct DeviceOpaque;           // struct nvmlDevice_st, never defined
using Device = DeviceOpaque*;  // nvmlDevice_t

// Buffer sizes large enough for every NVML version (the _V2_ sizes of nvml.h).
inline constexpr unsigned kNameBufferSize = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE
inline constexpr unsigned kUuidBufferSize = 96;  // NVML_DEVICE_UUID_V2_BUFFER_SIZE

// nvmlPciInfo_t as filled by nvmlDeviceGetPciInfo_v3.
struct PciInfo {
  char bus_id_legacy[16];  // NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pci_device_id;
  unsigned int pci_subsystem_id;
  char bus_id[32];  // NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE: "00000000:17:00.0"
};

// The table filled by dlsym, one entry per NVML symbol named in the comment.
struct Functions {
  Return (*init_v2)();                                             // nvmlInit_v2
  Return (*shutdown)();                                            // nvmlShutdown
  const char* (*error_string)(Return);                             // nvmlErrorString
  Return (*device_get_count_v2)(unsigned int*);                    // nvmlDeviceGetCount_v2
  Return (*device_get_handle_by_index_v2)(unsigned int, Device*);  // ..._v2
  Return (*device_get_name)(Device, char*, unsigned int);          // nvmlDeviceGetName
  Return (*device_get_uuid)(Device, char*, unsigned int);          // nvmlDeviceGetUUID
  Return (*device_get_pci_info_v3)(Device, PciInfo*);              // nvmlDeviceGetPciInfo_v3
  Return (*device_get_total_energy_consumption)(Device, unsigned long long*);  // mJ
  Return (*device_get_power_usage)(Device, unsigned int*);                     // mW
};

}  // namespace nvml

// The library name NVIDIA's driver installs (the .so without version is only in -dev packages).
inline constexpr const char* kDefaultNvmlLibrary = "libnvidia-ml.so.1";

// An initialised NVML: the library is loaded and nvmlInit_v2 succeeded. The destructor calls
// nvmlShutdown and then unloads the library. Each instance holds its own NVML reference (NVML
// counts nvmlInit calls), so two instances may coexist; there is no process-wide instance.
class NvmlApi {
 public:
  // Return NVML loaded from library_path and initialised, or a reason a user can act on:
  // "no NVIDIA driver: libnvidia-ml.so.1 not found (dlopen: ...)", "... is not an NVML library
  // (...)", "nvmlInit failed: Driver Not Loaded (NVML error 9)".
  static std::expected<std::unique_ptr<NvmlApi>, std::string> open(
      const std::string& library_path = kDefaultNvmlLibrary);

  NvmlApi(const NvmlApi&) = delete;
  NvmlApi& operator=(const NvmlApi&) = delete;
  ~NvmlApi();

  // Return the number of GPUs NVML reports (including ones this process may not open).
  std::expected<unsigned, nvml::Return> device_count() const;
  // Return the handle of the GPU at NVML index i.
  std::expected<nvml::Device, nvml::Return> device_handle(unsigned i) const;
  // Return the product name: "NVIDIA H100 80GB HBM3".
  std::expected<std::string, nvml::Return> device_name(nvml::Device d) const;
  // Return the UUID: "GPU-6d0e5a3c-...".
  std::expected<std::string, nvml::Return> device_uuid(nvml::Device d) const;
  // Return the PCI bus id: "00000000:17:00.0".
  std::expected<std::string, nvml::Return> device_pci_bus_id(nvml::Device d) const;
  // Return the energy used since the driver was loaded, in millijoules. kErrorNotSupported on
  // GPUs older than Volta.
  std::expected<std::uint64_t, nvml::Return> total_energy_mj(nvml::Device d) const;
  // Return the current power draw of the board, in milliwatts.
  std::expected<std::uint32_t, nvml::Return> power_mw(nvml::Device d) const;

  // Return NVML's text for the code with the code itself: "GPU is lost (NVML error 15)".
  std::string error_text(nvml::Return r) const;

 private:
  NvmlApi(os::SharedLibrary library, const nvml::Functions& functions)
      : library_(std::move(library)), fn_(functions) {}

  os::SharedLibrary library_;
  nvml::Functions fn_;
};

}  // namespace jobcarbon::sensors
