// SPDX-License-Identifier: Apache-2.0
// What the CUDA runtime and driver say about this host's GPUs. "No driver" and "no device" are
// normal states with a one-line reason, never an error: probe() never throws.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "onecopy/kernels/cuda_architectures.hpp"

namespace onecopy::gpu {

/// A CUDA call failed, or a GPU feature was asked for where there is none. The message names
/// the call, the object and the cudaError/CUresult name.
class gpu_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One CUDA device as this process numbers it (CUDA_VISIBLE_DEVICES may renumber: match
/// devices across processes by uuid or pci_bus_id).
struct device_info {
  int ordinal = 0;
  std::string name;
  std::string uuid;        ///< "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
  std::string pci_bus_id;  ///< "0000:3b:00.0", lowercase as in sysfs and hwloc
  int compute_major = 0;
  int compute_minor = 0;
  std::uint64_t memory_bytes = 0;
  int host_numa_node = -1;      ///< nearest host node; -1 when none or unknown
  std::string host_numa_source;  ///< "cudaDevAttrHostNumaId", "sysfs" or "none"
  bool unified_addressing = false;
  bool host_register = false;                    ///< cudaDevAttrHostRegisterSupported
  bool host_register_read_only = false;          ///< cudaDevAttrHostRegisterReadOnlySupported
  bool can_use_host_pointer = false;             ///< CanUseHostPointerForRegisteredMem
  bool pageable_uses_host_page_tables = false;   ///< PageableMemoryAccessUsesHostPageTables
  bool vmm = false;                              ///< CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED
  bool vmm_posix_fd = false;                     ///< ..._HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED
  bool ipc_events = false;                       ///< cudaDevAttrIpcEventSupport
  std::uint64_t vmm_granularity = 0;             ///< cuMemGetAllocationGranularity(RECOMMENDED), bytes
  std::vector<std::string> notes;                ///< queries that failed, one line each
};

/// The result of probing CUDA in this process.
struct probe_result {
  bool built_with_cuda = false;  ///< this binary contains the CUDA path (ONECOPY_CUDA)
  bool available = false;        ///< at least one device is usable
  /// When !available, one line: "no CUDA driver/device (cudaGetDeviceCount: cudaErrorInsufficientDriver …)",
  /// "disabled by ONECOPY_GPU=off" or "built without CUDA (ONECOPY_CUDA=OFF)".
  std::string reason;
  int runtime_version = 0;  ///< cudaRuntimeGetVersion, e.g. 13000
  int driver_version = 0;   ///< cudaDriverGetVersion (0 without a driver)
  std::vector<device_info> devices;
};

/// Probes once per process and caches the result (never destroyed, so nothing runs at exit).
/// Any CUDA error or zero devices makes the result unavailable with a reason. ONECOPY_GPU=off
/// skips CUDA entirely. Thread-safe. Never throws.
[[nodiscard]] const probe_result& probe() noexcept;

/// The code of this binary that device d would run (compiled_cuda_architectures() against its
/// compute capability).
[[nodiscard]] kernel_image kernel_image_of(const device_info& d);

/// The probe as a few human lines (no trailing newlines), for `onecopy topo`: one line when
/// unavailable ("GPU: none — no CUDA driver/device (…)"), else one per device plus a header, and
/// a "warning: no kernel image …" line for a device this binary has no kernels for.
[[nodiscard]] std::vector<std::string> describe(const probe_result& p);

/// The probe as JSON: {"built_with_cuda", "available", "reason", "runtime_version",
/// "driver_version", "cuda_architectures", "devices": [{ordinal, name, uuid, pci_bus_id, …,
/// "kernel_image": {runs, known, how}}]}. Sizes in bytes.
void to_json(nlohmann::json& j, const probe_result& p);
/// One device as JSON (the objects of "devices").
void to_json(nlohmann::json& j, const device_info& d);

/// The device with this uuid or PCI bus id in this process's numbering, or -1.
[[nodiscard]] int find_device(const probe_result& p, const std::string& uuid_or_bus_id) noexcept;

}  // namespace onecopy::gpu
