// SPDX-License-Identifier: Apache-2.0
// gpu::probe() results as text lines and JSON (for `onecopy topo` and `serve`), and device
// lookup by uuid or PCI bus id. No CUDA here.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "onecopy/kernels/cuda_architectures.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/units.hpp"

namespace onecopy::gpu {
namespace {
std::string version_text(int v) {
  if (v <= 0) return "none";
  return fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
}
const char* yes_no(bool b) { return b ? "yes" : "no"; }
}  // namespace

std::vector<std::string> describe(const probe_result& p) {
  std::vector<std::string> lines;
  if (!p.available) {
    lines.push_back(fmt::format("CUDA: {}", p.reason));
    return lines;
  }
  lines.push_back(fmt::format("CUDA: runtime {}, driver {}, {} device{}", version_text(p.runtime_version),
                              version_text(p.driver_version), p.devices.size(), p.devices.size() == 1 ? "" : "s"));
  for (const auto& d : p.devices) {
    lines.push_back(fmt::format("  cuda:{} {} (sm_{}{}, {}) pci {} node {}{}", d.ordinal, d.name, d.compute_major,
                                d.compute_minor, format_bytes(d.memory_bytes), d.pci_bus_id, d.host_numa_node,
                                d.host_numa_source == "none" ? "" : fmt::format(" ({})", d.host_numa_source)));
    lines.push_back(fmt::format("    register {} (read-only {}), host pointer {}, host page tables {}, vmm {} "
                                "(posix fd {}, granularity {}), ipc events {}",
                                yes_no(d.host_register), yes_no(d.host_register_read_only),
                                yes_no(d.can_use_host_pointer), yes_no(d.pageable_uses_host_page_tables),
                                yes_no(d.vmm), yes_no(d.vmm_posix_fd), format_bytes(d.vmm_granularity),
                                yes_no(d.ipc_events)));
    if (const auto image = kernel_image_of(d); !image.runs) lines.push_back(fmt::format("    warning: {}", image.how));
    for (const auto& n : d.notes) lines.push_back(fmt::format("    note: {}", n));
  }
  return lines;
}

void to_json(nlohmann::json& j, const device_info& d) {
  j = {{"ordinal", d.ordinal},
       {"name", d.name},
       {"uuid", d.uuid},
       {"pci_bus_id", d.pci_bus_id},
       {"compute_capability", fmt::format("{}.{}", d.compute_major, d.compute_minor)},
       {"memory_bytes", d.memory_bytes},
       {"host_numa_node", d.host_numa_node},
       {"host_numa_source", d.host_numa_source},
       {"unified_addressing", d.unified_addressing},
       {"host_register", d.host_register},
       {"host_register_read_only", d.host_register_read_only},
       {"can_use_host_pointer_for_registered_mem", d.can_use_host_pointer},
       {"pageable_memory_access_uses_host_page_tables", d.pageable_uses_host_page_tables},
       {"vmm", d.vmm},
       {"vmm_posix_fd", d.vmm_posix_fd},
       {"vmm_granularity", d.vmm_granularity},
       {"ipc_events", d.ipc_events},
       {"notes", d.notes}};
  const auto image = kernel_image_of(d);
  j["kernel_image"] = {{"runs", image.runs}, {"known", image.known}, {"how", image.how}};
}

void to_json(nlohmann::json& j, const probe_result& p) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : p.devices) devices.push_back(d);
  j = {{"built_with_cuda", p.built_with_cuda},
       {"available", p.available},
       {"reason", p.reason},
       {"runtime_version", p.runtime_version},
       {"driver_version", p.driver_version},
       {"cuda_architectures", std::string(compiled_cuda_architectures())},
       {"devices", devices}};
}

kernel_image kernel_image_of(const device_info& d) {
  try {
    return find_kernel_image(compiled_cuda_architectures(), d.compute_major, d.compute_minor);
  } catch (const std::exception& e) {
    return {true, false, e.what()};  // a list CMake accepted but we cannot read: do not cry wolf
  }
}

int find_device(const probe_result& p, const std::string& uuid_or_bus_id) noexcept {
  for (const auto& d : p.devices)
    if (!uuid_or_bus_id.empty() && (d.uuid == uuid_or_bus_id || d.pci_bus_id == uuid_or_bus_id)) return d.ordinal;
  return -1;
}

}  // namespace onecopy::gpu
