#include <jobcarbon/sensors/gpu_selection.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <set>
#include <string_view>
#include <tuple>

#include <fmt/format.h>

namespace jobcarbon::sensors {

namespace {

constexpr std::string_view kWhitespace = " \t\r\n";

std::string_view trim(std::string_view s) {
  const auto begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  const auto end = s.find_last_not_of(kWhitespace);
  return s.substr(begin, end - begin + 1);
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

// Return "domain:bus:device.function" as numbers, for an order that does not depend on how
// many digits or which letter case NVML used. Unparsable ids sort last.
std::array<unsigned long, 4> pci_key(const std::string& bus_id) {
  constexpr unsigned long kLast = ~0UL;
  std::array<unsigned long, 4> key{kLast, kLast, kLast, kLast};
  const char* p = bus_id.data();
  const char* end = bus_id.data() + bus_id.size();
  constexpr std::array<char, 4> separators{':', ':', '.', '\0'};
  for (std::size_t i = 0; i < key.size(); ++i) {
    unsigned long value = 0;
    const auto [next, ec] = std::from_chars(p, end, value, 16);
    if (ec != std::errc()) return {kLast, kLast, kLast, kLast};
    key[i] = value;
    p = next;
    if (separators[i] == '\0') break;
    if (p == end || *p != separators[i]) return {kLast, kLast, kLast, kLast};
    ++p;
  }
  return key;
}

// Return the GPUs in ascending PCI bus order (NVML index breaks ties).
std::vector<const GpuInfo*> pci_order(const std::vector<GpuInfo>& gpus) {
  std::vector<const GpuInfo*> order;
  for (const auto& gpu : gpus) order.push_back(&gpu);
  std::stable_sort(order.begin(), order.end(), [](const GpuInfo* a, const GpuInfo* b) {
    return std::tuple(pci_key(a->pci_bus_id), a->nvml_index) <
           std::tuple(pci_key(b->pci_bus_id), b->nvml_index);
  });
  return order;
}

std::vector<std::string> distinct_models(const std::vector<GpuInfo>& gpus) {
  std::vector<std::string> models;
  for (const auto& gpu : gpus) {
    if (std::find(models.begin(), models.end(), gpu.name) == models.end()) {
      models.push_back(gpu.name);
    }
  }
  return models;
}

// Return the GPU an index entry names, or null when it is not a valid CUDA index.
const GpuInfo* by_index(std::string_view entry, const std::vector<const GpuInfo*>& order) {
  if (entry.empty() ||
      !std::all_of(entry.begin(), entry.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return nullptr;
  }
  std::size_t index = 0;
  const auto [ptr, ec] = std::from_chars(entry.data(), entry.data() + entry.size(), index);
  if (ec != std::errc() || ptr != entry.data() + entry.size() || index >= order.size()) {
    return nullptr;
  }
  return order[index];
}

// Return the GPUs whose UUID begins with the entry (case-insensitive: hex digits).
std::vector<const GpuInfo*> by_uuid_prefix(std::string_view entry,
                                           const std::vector<GpuInfo>& gpus) {
  std::vector<const GpuInfo*> matches;
  for (const auto& gpu : gpus) {
    if (starts_with_nocase(gpu.uuid, entry)) matches.push_back(&gpu);
  }
  return matches;
}

std::string rest_of_list(const std::vector<std::string_view>& entries, std::size_t from) {
  std::string rest;
  for (std::size_t i = from; i < entries.size(); ++i) {
    if (!rest.empty()) rest += ',';
    rest += entries[i];
  }
  return rest;
}

}  // namespace

std::expected<GpuSelection, std::string> select_gpus(
    const std::vector<GpuInfo>& gpus, const std::optional<std::string>& cuda_visible_devices,
    const std::optional<std::string>& cuda_device_order) {
  GpuSelection selection;
  if (!cuda_visible_devices) {
    for (const auto& gpu : pci_order(gpus)) selection.uuids.push_back(gpu->uuid);
    return selection;
  }

  bool fastest_first = true;
  if (cuda_device_order) {
    const auto order = trim(*cuda_device_order);
    if (order == "PCI_BUS_ID") {
      fastest_first = false;
    } else if (order != "FASTEST_FIRST" && !order.empty()) {
      selection.warnings.push_back(fmt::format(
          "CUDA_DEVICE_ORDER='{}' is neither FASTEST_FIRST nor PCI_BUS_ID; assuming CUDA's "
          "default, FASTEST_FIRST",
          *cuda_device_order));
    }
  }
  const auto order = pci_order(gpus);
  const auto models = distinct_models(gpus);
  bool index_used = false;

  std::vector<std::string_view> entries;
  const std::string_view list = *cuda_visible_devices;
  if (!trim(list).empty()) {
    std::size_t start = 0;
    for (;;) {
      const auto comma = list.find(',', start);
      entries.push_back(trim(list.substr(start, comma - start)));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  }

  std::set<const GpuInfo*> chosen;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string_view entry = entries[i];
    if (starts_with_nocase(entry, "MIG-")) {
      return std::unexpected(fmt::format(
          "CUDA_VISIBLE_DEVICES names a MIG instance ('{}'): jobcarbon cannot measure MIG "
          "instances, since NVML gives energy only per whole GPU; list whole GPUs by UUID, or "
          "use --exclusive to charge the whole machine",
          entry));
    }
    const GpuInfo* gpu = nullptr;
    std::string why;
    if (starts_with_nocase(entry, "GPU-")) {
      const auto matches = by_uuid_prefix(entry, gpus);
      if (matches.size() == 1) {
        gpu = matches.front();
      } else {
        why = matches.empty() ? "matches no GPU's UUID"
                              : fmt::format("is a prefix of {} GPUs' UUIDs", matches.size());
      }
    } else {
      gpu = by_index(entry, order);
      if (gpu != nullptr) {
        index_used = true;
      } else {
        why = fmt::format("is not a GPU index (0 to {}) nor a GPU UUID",
                          static_cast<long>(gpus.size()) - 1);
        if (gpus.empty()) why = "names a GPU but this machine has none";
      }
    }
    if (gpu == nullptr) {
      const auto rest = rest_of_list(entries, i + 1);
      selection.warnings.push_back(fmt::format(
          "CUDA_VISIBLE_DEVICES entry '{}' {}: CUDA ignores it{}", entry, why,
          rest.empty() ? std::string() : fmt::format(" and every entry after it ('{}')", rest)));
      break;
    }
    if (!chosen.insert(gpu).second) {
      selection.warnings.push_back(
          fmt::format("CUDA_VISIBLE_DEVICES names GPU {} ({}) twice; it is counted once",
                      gpu->nvml_index, gpu->uuid));
      continue;
    }
    selection.uuids.push_back(gpu->uuid);
  }

  if (index_used && fastest_first && models.size() > 1) {
    std::string mapping;
    for (std::size_t i = 0; i < order.size(); ++i) {
      mapping +=
          fmt::format("{}{} -> {} ({})", i == 0 ? "" : ", ", i, order[i]->uuid, order[i]->name);
    }
    selection.warnings.push_back(fmt::format(
        "CUDA_VISIBLE_DEVICES uses indices on a machine with {} GPU models and "
        "CUDA_DEVICE_ORDER is FASTEST_FIRST (CUDA's default), which ranks GPUs by a speed "
        "heuristic jobcarbon cannot reproduce; indices were mapped in PCI bus order ({}), which "
        "may not be CUDA's. Use GPU UUIDs in CUDA_VISIBLE_DEVICES, or set "
        "CUDA_DEVICE_ORDER=PCI_BUS_ID",
        models.size(), mapping));
  }
  return selection;
}

std::string model_of(const std::vector<GpuInfo>& gpus, const std::vector<std::string>& uuids) {
  for (const auto& g : gpus) {
    if (std::find(uuids.begin(), uuids.end(), g.uuid) != uuids.end()) return g.name;
  }
  return "";
}

}  // namespace jobcarbon::sensors
