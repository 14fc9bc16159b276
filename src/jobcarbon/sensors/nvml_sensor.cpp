#include <jobcarbon/sensors/nvml_sensor.hpp>

#include <cstdint>
#include <limits>
#include <memory>
#include <utility>

#include <fmt/format.h>

namespace jobcarbon::sensors {

namespace {

// Reads one NVML value per channel; channels()[i] belongs to devices_[i].
class NvmlSensor final : public Sensor {
 public:
  NvmlSensor(std::unique_ptr<NvmlApi> api, std::vector<Channel> channels,
             std::vector<nvml::Device> devices)
      : api_(std::move(api)), channels_(std::move(channels)), devices_(std::move(devices)) {}

  std::string_view name() const override { return "nvml"; }
  const std::vector<Channel>& channels() const override { return channels_; }

  void read(std::vector<Reading>& out) override {
    out.resize(channels_.size());
    for (std::size_t i = 0; i < channels_.size(); ++i) {
      out[i] = channels_[i].kind == ChannelKind::kEnergyCounter ? read_energy(devices_[i])
                                                                : read_power(devices_[i]);
    }
  }

 private:
  Reading read_energy(nvml::Device device) const {
    const auto mj = api_->total_energy_mj(device);
    if (!mj) {
      return std::unexpected("nvmlDeviceGetTotalEnergyConsumption: " +
                             api_->error_text(mj.error()));
    }
    // 9.2e15 mJ is 290 years of a 1 kW board: only a broken driver gets here.
    if (*mj > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 1000)) {
      return std::unexpected(fmt::format("energy counter out of range: {} mJ", *mj));
    }
    return static_cast<std::int64_t>(*mj) * 1000;
  }

  Reading read_power(nvml::Device device) const {
    const auto mw = api_->power_mw(device);
    if (!mw) return std::unexpected("nvmlDeviceGetPowerUsage: " + api_->error_text(mw.error()));
    return static_cast<std::int64_t>(*mw) * 1000;
  }

  std::unique_ptr<NvmlApi> api_;
  std::vector<Channel> channels_;
  std::vector<nvml::Device> devices_;
};

std::string describe(const GpuInfo& gpu) {
  return fmt::format("GPU {} ({}, {})", gpu.nvml_index, gpu.name, gpu.uuid);
}

}  // namespace

NvmlProbe probe_nvml_with_gpus(const std::string& library_path) {
  NvmlProbe result;
  Probe& probe = result.probe;
  probe.name = "nvml";

  auto api = NvmlApi::open(library_path);
  if (!api) {
    probe.unavailable_reason = api.error();
    return result;
  }
  const auto count = (*api)->device_count();
  if (!count) {
    probe.unavailable_reason = "nvmlDeviceGetCount failed: " + (*api)->error_text(count.error());
    return result;
  }
  if (*count == 0) {
    probe.unavailable_reason = "NVML found no GPU";
    return result;
  }

  std::vector<Channel> channels;
  std::vector<nvml::Device> devices;
  for (unsigned i = 0; i < *count; ++i) {
    const auto handle = (*api)->device_handle(i);
    if (!handle) {
      // nvmlDeviceGetCount_v2 counts GPUs this process may not open (another job's GPU under
      // a device cgroup); NVML_ERROR_NO_PERMISSION is then expected, not a fault.
      probe.notes.push_back(fmt::format("GPU {} left out: nvmlDeviceGetHandleByIndex: {}", i,
                                        (*api)->error_text(handle.error())));
      continue;
    }
    const auto uuid = (*api)->device_uuid(*handle);
    if (!uuid) {
      // Without its UUID a GPU cannot be matched to a job or named stably across runs.
      probe.notes.push_back(fmt::format("GPU {} left out: nvmlDeviceGetUUID: {}", i,
                                        (*api)->error_text(uuid.error())));
      continue;
    }
    GpuInfo gpu;
    gpu.nvml_index = static_cast<int>(i);
    gpu.uuid = *uuid;
    const auto name = (*api)->device_name(*handle);
    gpu.name = name ? *name : "NVIDIA GPU";
    if (!name) {
      probe.notes.push_back(
          fmt::format("GPU {}: nvmlDeviceGetName: {}", i, (*api)->error_text(name.error())));
    }
    const auto pci = (*api)->device_pci_bus_id(*handle);
    if (pci) {
      gpu.pci_bus_id = *pci;
    } else {
      probe.notes.push_back(
          fmt::format("GPU {}: nvmlDeviceGetPciInfo: {}", i, (*api)->error_text(pci.error())));
    }

    Channel channel;
    channel.id = "nvml:" + gpu.uuid;
    channel.label = fmt::format("{} (GPU {})", gpu.name, i);
    channel.domain = Domain::kGpu;
    channel.device = gpu.uuid;

    const auto energy = (*api)->total_energy_mj(*handle);
    if (energy) {
      gpu.has_energy_counter = true;
      channel.kind = ChannelKind::kEnergyCounter;
    } else if (energy.error() == nvml::kErrorNotSupported) {
      const auto power = (*api)->power_mw(*handle);
      if (!power) {
        probe.notes.push_back(fmt::format(
            "{} left out: it has no energy counter and nvmlDeviceGetPowerUsage fails: {}",
            describe(gpu), (*api)->error_text(power.error())));
        result.gpus.push_back(std::move(gpu));
        continue;
      }
      channel.kind = ChannelKind::kPower;
      probe.notes.push_back(
          fmt::format("{} has no energy counter (NVML: Not Supported, as on GPUs older than "
                      "Volta): its power is sampled and integrated",
                      describe(gpu)));
    } else {
      probe.notes.push_back(fmt::format("{} left out: nvmlDeviceGetTotalEnergyConsumption: {}",
                                        describe(gpu), (*api)->error_text(energy.error())));
      result.gpus.push_back(std::move(gpu));
      continue;
    }
    result.gpus.push_back(std::move(gpu));
    channels.push_back(std::move(channel));
    devices.push_back(*handle);
  }

  if (channels.empty()) {
    probe.unavailable_reason = fmt::format("NVML found {} GPU{} but none can be read (see notes)",
                                           *count, *count == 1 ? "" : "s");
    return result;
  }
  probe.sensor =
      std::make_unique<NvmlSensor>(std::move(*api), std::move(channels), std::move(devices));
  return result;
}

Probe probe_nvml(const std::string& library_path) {
  return std::move(probe_nvml_with_gpus(library_path).probe);
}

}  // namespace jobcarbon::sensors
