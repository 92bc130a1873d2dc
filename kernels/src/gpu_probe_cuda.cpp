// SPDX-License-Identifier: Apache-2.0
// gpu::probe() with CUDA: runtime and driver versions, then every visible device's identity,
// NUMA node and the attributes the host-registration and device-copy paths depend on.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "cuda_util.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy::gpu {
namespace {

bool disabled_by_environment() {
  const char* v = std::getenv("ONECOPY_GPU");
  if (v == nullptr) return false;
  std::string s(v);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s == "off" || s == "0" || s == "no" || s == "false";
}

std::string uuid_text(const cudaUUID_t& u) {
  const auto* b = reinterpret_cast<const unsigned char*>(u.bytes);
  return fmt::format("GPU-{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

// One runtime attribute as a bool/int; a failed query becomes a note (when name is given) and
// the fallback value.
int attribute(int ordinal, cudaDeviceAttr attr, const char* name, int fallback, device_info& d) {
  int v = fallback;
  if (const cudaError_t e = cudaDeviceGetAttribute(&v, attr, ordinal); e != cudaSuccess) {
    const std::string text = detail::runtime_error_text(e);  // also clears the error
    if (name != nullptr) d.notes.push_back(fmt::format("cudaDeviceGetAttribute({}): {}", name, text));
    return fallback;
  }
  return v;
}

void query_driver_attributes(device_info& d) {
  const auto& drv = detail::driver();
  if (drv.device_get == nullptr || drv.device_get_attribute == nullptr) {
    d.notes.push_back(fmt::format("driver API unavailable: {}", drv.missing));
    return;
  }
  CUdevice dev = 0;
  if (const CUresult r = drv.device_get(&dev, d.ordinal); r != CUDA_SUCCESS) {
    d.notes.push_back(fmt::format("cuDeviceGet({}): {}", d.ordinal, detail::driver_error_text(r)));
    return;
  }
  int v = 0;
  if (drv.device_get_attribute(&v, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, dev) == CUDA_SUCCESS)
    d.vmm = v != 0;
  else
    d.notes.push_back("cuDeviceGetAttribute(VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED) failed");
  if (drv.device_get_attribute(&v, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, dev) == CUDA_SUCCESS)
    d.vmm_posix_fd = v != 0;
  else
    d.notes.push_back("cuDeviceGetAttribute(HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED) failed");
  if (d.vmm && drv.mem_get_allocation_granularity != nullptr) {
    CUmemAllocationProp prop{};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = dev;
    prop.requestedHandleTypes = d.vmm_posix_fd ? CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR : CU_MEM_HANDLE_TYPE_NONE;
    std::size_t g = 0;
    if (const CUresult r = drv.mem_get_allocation_granularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED);
        r == CUDA_SUCCESS)
      d.vmm_granularity = g;
    else
      d.notes.push_back(fmt::format("cuMemGetAllocationGranularity: {}", detail::driver_error_text(r)));
  }
}

device_info query(int ordinal) {
  device_info d;
  d.ordinal = ordinal;
  cudaDeviceProp prop{};
  if (const cudaError_t e = cudaGetDeviceProperties(&prop, ordinal); e != cudaSuccess) {
    d.notes.push_back(fmt::format("cudaGetDeviceProperties: {}", detail::runtime_error_text(e)));
  } else {
    d.name = prop.name;
    d.uuid = uuid_text(prop.uuid);
    d.memory_bytes = prop.totalGlobalMem;
    d.compute_major = prop.major;
    d.compute_minor = prop.minor;
  }
  char bus[64] = {};
  if (const cudaError_t e = cudaDeviceGetPCIBusId(bus, sizeof bus, ordinal); e != cudaSuccess) {
    d.notes.push_back(fmt::format("cudaDeviceGetPCIBusId: {}", detail::runtime_error_text(e)));
  } else {
    d.pci_bus_id = bus;
    std::transform(d.pci_bus_id.begin(), d.pci_bus_id.end(), d.pci_bus_id.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  d.unified_addressing = attribute(ordinal, cudaDevAttrUnifiedAddressing, "UnifiedAddressing", 0, d) != 0;
  d.host_register = attribute(ordinal, cudaDevAttrHostRegisterSupported, "HostRegisterSupported", 0, d) != 0;
  d.host_register_read_only =
      attribute(ordinal, cudaDevAttrHostRegisterReadOnlySupported, "HostRegisterReadOnlySupported", 0, d) != 0;
  d.can_use_host_pointer =
      attribute(ordinal, cudaDevAttrCanUseHostPointerForRegisteredMem, "CanUseHostPointerForRegisteredMem", 0, d) != 0;
  d.pageable_uses_host_page_tables = attribute(ordinal, cudaDevAttrPageableMemoryAccessUsesHostPageTables,
                                               "PageableMemoryAccessUsesHostPageTables", 0, d) != 0;
  d.ipc_events = attribute(ordinal, cudaDevAttrIpcEventSupport, "IpcEventSupport", 0, d) != 0;
  // Nearest host node: the device says so (CUDA >= 12.2 drivers), else the PCI device's sysfs.
  // (Drivers before CUDA 12.2 do not know the attribute: no note, sysfs answers.)
  if (const int node = attribute(ordinal, cudaDevAttrHostNumaId, nullptr, -1, d); node >= 0) {
    d.host_numa_node = node;
    d.host_numa_source = "cudaDevAttrHostNumaId";
  } else if (const auto n = sys::read_text_if_exists("/sys/bus/pci/devices/" + d.pci_bus_id + "/numa_node");
             !d.pci_bus_id.empty() && n && std::atoi(n->c_str()) >= 0) {
    d.host_numa_node = std::atoi(n->c_str());
    d.host_numa_source = "sysfs";
  } else {
    d.host_numa_source = "none";
  }
  query_driver_attributes(d);
  return d;
}

probe_result compute() {
  probe_result r;
  r.built_with_cuda = true;
  if (disabled_by_environment()) {
    r.reason = "disabled by ONECOPY_GPU=off";
    return r;
  }
  (void)cudaRuntimeGetVersion(&r.runtime_version);
  if (cudaDriverGetVersion(&r.driver_version) != cudaSuccess) r.driver_version = 0;
  (void)cudaGetLastError();
  int count = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    r.reason = fmt::format("no CUDA driver/device (cudaGetDeviceCount: {})", detail::runtime_error_text(e));
    return r;
  }
  if (count <= 0) {
    r.reason = "no CUDA driver/device (the driver reports 0 devices; check CUDA_VISIBLE_DEVICES)";
    return r;
  }
  for (int i = 0; i < count; ++i) r.devices.push_back(query(i));
  r.available = true;
  return r;
}

}  // namespace

const probe_result& probe() noexcept {
  // Computed once; never destroyed, so nothing touches CUDA during exit().
  static const probe_result* result = [] {
    try {
      return new probe_result(compute());
    } catch (const std::exception& e) {
      auto* r = new probe_result;
      r->built_with_cuda = true;
      r->reason = fmt::format("no CUDA driver/device (probe failed: {})", e.what());
      return r;
    }
  }();
  return *result;
}

}  // namespace onecopy::gpu
