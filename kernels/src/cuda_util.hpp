// SPDX-License-Identifier: Apache-2.0
// Internal, CUDA builds only. Error helpers for runtime calls and the driver API reached
// through cudaGetDriverEntryPointByVersion (never by linking libcuda: a binary that needs
// libcuda.so.1 does not start on a host without a driver).
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>

#include <string>
#include <string_view>

namespace onecopy::gpu::detail {

/// "cudaErrorX: text" for a runtime error; also clears it (cudaGetLastError) so a non-sticky
/// error cannot surface in a later, unrelated call.
[[nodiscard]] std::string runtime_error_text(cudaError_t e);

/// Throws gpu_error "<call>: cudaErrorX: text" unless e is cudaSuccess.
void check(cudaError_t e, std::string_view call);

/// The driver functions onecopy uses, resolved once through cudart. Each pointer may be null
/// when the driver lacks it (then `missing` names it).
struct driver_api {
  PFN_cuGetErrorName_v6000 get_error_name = nullptr;
  PFN_cuDeviceGet_v2000 device_get = nullptr;
  PFN_cuDeviceGetAttribute_v2000 device_get_attribute = nullptr;
  PFN_cuMemGetAllocationGranularity_v10020 mem_get_allocation_granularity = nullptr;
  PFN_cuMemCreate_v10020 mem_create = nullptr;
  PFN_cuMemRelease_v10020 mem_release = nullptr;
  PFN_cuMemAddressReserve_v10020 mem_address_reserve = nullptr;
  PFN_cuMemAddressFree_v10020 mem_address_free = nullptr;
  PFN_cuMemMap_v10020 mem_map = nullptr;
  PFN_cuMemUnmap_v10020 mem_unmap = nullptr;
  PFN_cuMemSetAccess_v10020 mem_set_access = nullptr;
  PFN_cuMemExportToShareableHandle_v10020 mem_export_to_shareable_handle = nullptr;
  PFN_cuMemImportFromShareableHandle_v10020 mem_import_from_shareable_handle = nullptr;
  PFN_cuPointerGetAttribute_v4000 pointer_get_attribute = nullptr;
  std::string missing;  ///< names that could not be resolved, with the reason
  [[nodiscard]] bool complete() const noexcept { return missing.empty(); }
};

/// The driver API (resolved on first use, cached, never throws). Only meaningful after the
/// runtime found a device.
[[nodiscard]] const driver_api& driver() noexcept;

/// "CUDA_ERROR_X" for a driver result.
[[nodiscard]] std::string driver_error_text(CUresult r);

/// Throws gpu_error "<call>: CUDA_ERROR_X" unless r is CUDA_SUCCESS.
void check(CUresult r, std::string_view call);

/// Throws gpu_error naming what when a driver function could not be resolved.
void require_driver(const void* fn, std::string_view name);

}  // namespace onecopy::gpu::detail
