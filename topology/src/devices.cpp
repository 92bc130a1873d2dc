// SPDX-License-Identifier: Apache-2.0
#include "devices.hpp"

#include <algorithm>
#include <charconv>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/pci.hpp"

namespace onecopy::detail {

std::optional<device_kind> classify_pci(std::uint16_t vendor_id, std::uint16_t class_id,
                                        const std::vector<std::string>& os_devices, bool owns_gpu_memory) {
  const unsigned base_class = class_id >> 8u;
  const bool display = base_class == 0x03;
  const bool accel = base_class == 0x12 || class_id == 0x0b40;
  const bool gpu_vendor = vendor_id == 0x10de || vendor_id == 0x1002;
  if (gpu_vendor && (display || accel)) return device_kind::gpu;
  if (owns_gpu_memory) return device_kind::gpu;
  for (const auto& d : os_devices)
    for (const char* prefix : {"cuda", "nvml", "rsmi", "opencl"})
      if (d.rfind(prefix, 0) == 0) return device_kind::gpu;
  if (class_id == 0x0302) return device_kind::gpu;  // 3D controller: compute GPUs of any vendor
  for (const auto& d : os_devices)
    if (d.rfind("ve", 0) == 0) return device_kind::accelerator;  // NEC VectorEngine
  if (accel) return device_kind::accelerator;
  // Plain VGA of other vendors: BMC consoles (Matrox, ASPEED), not compute devices.
  return std::nullopt;
}

std::string pci_fallback_name(std::uint16_t vendor_id, std::uint16_t device_id, std::uint16_t class_id) {
  const char* cls = class_id == 0x0300 ? "VGA" : class_id == 0x0302 ? "3D controller"
                    : (class_id >> 8u) == 0x03 ? "display controller" : "PCI device";
  return fmt::format("{} [{:04x}:{:04x}]", cls, vendor_id, device_id);
}

void number_gpus(std::vector<gpu_device>& gpus) {
  std::sort(gpus.begin(), gpus.end(), [](const gpu_device& a, const gpu_device& b) {
    return pci_address::parse(a.bus_id) < pci_address::parse(b.bus_id);
  });
  for (std::size_t i = 0; i < gpus.size(); ++i) gpus[i].index = static_cast<int>(i);
}

namespace {

std::optional<std::uint64_t> hex_file(const std::filesystem::path& p) {
  auto text = sys::read_text_if_exists(p);
  if (!text) return std::nullopt;
  std::string_view s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  if (s.starts_with("0x")) s.remove_prefix(2);
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// "Model:  NVIDIA H100 80GB HBM3" from the NVIDIA driver's per-GPU information file.
std::string nvidia_model(const std::string& bus_id) {
  auto text = sys::read_text_if_exists(std::filesystem::path("/proc/driver/nvidia/gpus") / bus_id / "information");
  if (!text) return {};
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Model:", 0) != 0) continue;
    auto v = line.substr(6);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  }
  return {};
}

}  // namespace

std::vector<gpu_device> sysfs_gpus(const std::vector<numa_node>& nodes, const std::filesystem::path& root) {
  std::vector<gpu_device> gpus;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    const auto dir = entry.path();
    pci_address addr;
    try {
      addr = pci_address::parse(dir.filename().string());
    } catch (const usage_error&) {
      continue;
    }
    const auto cls = hex_file(dir / "class");
    const auto vendor = hex_file(dir / "vendor");
    const auto device = hex_file(dir / "device");
    if (!cls || !vendor || !device) continue;
    gpu_device g;
    g.bus_id = addr.to_string();
    g.vendor_id = static_cast<std::uint16_t>(*vendor);
    g.device_id = static_cast<std::uint16_t>(*device);
    g.class_id = static_cast<std::uint16_t>(*cls >> 8u);  // class file: class, subclass, prog-if
    std::set<std::string> os_devices;
    for (const char* sub : {"drm", "accel"})
      for (const auto& d : std::filesystem::directory_iterator(dir / sub, ec)) os_devices.insert(d.path().filename().string());
    g.os_devices.assign(os_devices.begin(), os_devices.end());
    const bool owns_memory = std::any_of(nodes.begin(), nodes.end(), [&](const numa_node& n) {
      return n.kind == memory_kind::gpu_memory && n.gpu_bus_id == g.bus_id;
    });
    const auto kind = classify_pci(g.vendor_id, g.class_id, g.os_devices, owns_memory);
    if (!kind) continue;
    g.kind = *kind;
    g.vendor = std::string(pci_vendor_name(g.vendor_id));
    if (g.vendor.empty()) g.vendor = fmt::format("vendor {:04x}", g.vendor_id);
    g.name = g.vendor_id == 0x10de ? nvidia_model(g.bus_id) : "";
    if (g.name.empty()) g.name = pci_fallback_name(g.vendor_id, g.device_id, g.class_id);
    if (auto cpus = sys::read_text_if_exists(dir / "local_cpulist")) {
      try {
        g.local_cpus = sys::parse_cpulist(*cpus);
      } catch (const usage_error&) {
      }
    }
    // numa_node is -1 when the firmware does not say (common on one-node hosts): then the
    // device is local to the home nodes of its local CPUs.
    std::set<int> local;
    const auto numa = sys::read_text_if_exists(dir / "numa_node");
    int node = -1;
    if (numa) {
      std::istringstream in(*numa);
      in >> node;
    }
    if (node >= 0) {
      local.insert(node);
    } else {
      for (const auto& n : nodes)
        for (int c : n.cpus)
          if (std::binary_search(g.local_cpus.begin(), g.local_cpus.end(), c)) local.insert(n.os_index);
    }
    for (int os : local) {
      const auto it = std::find_if(nodes.begin(), nodes.end(), [&](const numa_node& n) { return n.os_index == os; });
      if (it != nodes.end() && it->kind != memory_kind::gpu_memory) g.local_nodes.push_back(os);
    }
    for (const auto& n : nodes)
      if (n.kind == memory_kind::gpu_memory && n.gpu_bus_id == g.bus_id) g.memory_nodes.push_back(n.os_index);
    g.attached_to = node >= 0 ? fmt::format("NUMA node {} (sysfs)", node) : "local CPUs (sysfs)";
    gpus.push_back(std::move(g));
  }
  number_gpus(gpus);
  return gpus;
}

}  // namespace onecopy::detail
