// SPDX-License-Identifier: Apache-2.0
// Runtime error text and the driver API resolved through cudaGetDriverEntryPointByVersion.
#include <fmt/format.h>

#include "cuda_util.hpp"
#include "onecopy/kernels/gpu.hpp"

namespace onecopy::gpu::detail {

std::string runtime_error_text(cudaError_t e) {
  (void)cudaGetLastError();
  return fmt::format("{}: {}", cudaGetErrorName(e), cudaGetErrorString(e));
}

void check(cudaError_t e, std::string_view call) {
  if (e != cudaSuccess) throw gpu_error(fmt::format("{}: {}", call, runtime_error_text(e)));
}

namespace {

// Resolves name at the ABI of CUDA 12.0 (the PFN_*_v… typedefs above match it).
template <class Fn>
void resolve(Fn& fn, const char* name, std::string& missing) {
  void* p = nullptr;
  cudaDriverEntryPointQueryResult status = cudaDriverEntryPointSymbolNotFound;
  const cudaError_t e = cudaGetDriverEntryPointByVersion(name, &p, 12000, cudaEnableDefault, &status);
  if (e != cudaSuccess || status != cudaDriverEntryPointSuccess || p == nullptr) {
    missing += fmt::format("{}{} ({})", missing.empty() ? "" : ", ", name,
                           e != cudaSuccess ? runtime_error_text(e)
                                            : status == cudaDriverEntryPointVersionNotSufficent
                                                  ? "driver too old"
                                                  : "symbol not found");
    return;
  }
  fn = reinterpret_cast<Fn>(p);
}

driver_api load() {
  driver_api d;
  resolve(d.get_error_name, "cuGetErrorName", d.missing);
  resolve(d.device_get, "cuDeviceGet", d.missing);
  resolve(d.device_get_attribute, "cuDeviceGetAttribute", d.missing);
  resolve(d.mem_get_allocation_granularity, "cuMemGetAllocationGranularity", d.missing);
  resolve(d.mem_create, "cuMemCreate", d.missing);
  resolve(d.mem_release, "cuMemRelease", d.missing);
  resolve(d.mem_address_reserve, "cuMemAddressReserve", d.missing);
  resolve(d.mem_address_free, "cuMemAddressFree", d.missing);
  resolve(d.mem_map, "cuMemMap", d.missing);
  resolve(d.mem_unmap, "cuMemUnmap", d.missing);
  resolve(d.mem_set_access, "cuMemSetAccess", d.missing);
  resolve(d.mem_export_to_shareable_handle, "cuMemExportToShareableHandle", d.missing);
  resolve(d.mem_import_from_shareable_handle, "cuMemImportFromShareableHandle", d.missing);
  resolve(d.pointer_get_attribute, "cuPointerGetAttribute", d.missing);
  return d;
}

}  // namespace

const driver_api& driver() noexcept {
  // Never destroyed: nothing touches CUDA during exit().
  static const driver_api* api = new driver_api(load());
  return *api;
}

std::string driver_error_text(CUresult r) {
  const char* name = nullptr;
  if (driver().get_error_name != nullptr && driver().get_error_name(r, &name) == CUDA_SUCCESS && name != nullptr)
    return name;
  return fmt::format("CUresult {}", static_cast<int>(r));
}

void check(CUresult r, std::string_view call) {
  if (r != CUDA_SUCCESS) throw gpu_error(fmt::format("{}: {}", call, driver_error_text(r)));
}

void require_driver(const void* fn, std::string_view name) {
  if (fn == nullptr)
    throw gpu_error(fmt::format("{}: not available from the CUDA driver ({})", name, driver().missing));
}

}  // namespace onecopy::gpu::detail
