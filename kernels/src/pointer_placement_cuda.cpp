// SPDX-License-Identifier: Apache-2.0
// The CUDA half of pointer placement: cudaPointerGetAttributes for the device a kernel's data
// is on, and the driver's range attributes for how far a host registration reaches.
#include <fmt/format.h>

#include <stdexcept>
#include <vector>

#include "backend_api.hpp"
#include "cuda_util.hpp"
#include "pointer_placement.hpp"

namespace onecopy::kernels::cuda_k {
namespace {

using detail::pointer_location;

pointer_location locate(const void* p) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    (void)cudaGetLastError();  // not CUDA's: plain host memory
    return {};
  }
  switch (attr.type) {
    case cudaMemoryTypeDevice: return {pointer_location::kind::device, attr.device};
    case cudaMemoryTypeManaged: return {pointer_location::kind::managed, attr.device};
    case cudaMemoryTypeHost: return {pointer_location::kind::host_registered, attr.device};
    default: return {};
  }
}

void check(cudaError_t e, const std::string& call) {
  if (e != cudaSuccess) throw std::runtime_error(call + ": " + gpu::detail::runtime_error_text(e));
}

}  // namespace

device_scope::device_scope(std::initializer_list<const void*> pointers) {
  std::vector<pointer_location> where;
  for (const void* p : pointers)
    if (p != nullptr) where.push_back(locate(p));
  const int wanted = detail::kernel_device(where);
  if (wanted < 0) return;
  int current = 0;
  check(cudaGetDevice(&current), "cudaGetDevice");
  if (current == wanted) return;
  check(cudaSetDevice(wanted), fmt::format("cudaSetDevice({}) for data on that device", wanted));
  previous_ = current;
}

device_scope::~device_scope() {
  if (previous_ >= 0 && cudaSetDevice(previous_) != cudaSuccess) (void)cudaGetLastError();
}

const unsigned char* registered_device_pointer(const unsigned char* host, std::uint64_t size) {
  const auto& drv = gpu::detail::driver();
  if (size == 0 || drv.pointer_get_attribute == nullptr) return nullptr;
  const detail::registration_lookup lookup = [&drv](std::uintptr_t at) -> std::optional<detail::registered_range> {
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, reinterpret_cast<const void*>(at)) != cudaSuccess) {
      (void)cudaGetLastError();
      return std::nullopt;
    }
    if (attr.type != cudaMemoryTypeHost || attr.devicePointer == nullptr) return std::nullopt;
    CUdeviceptr start = 0;
    std::size_t length = 0;
    if (drv.pointer_get_attribute(&start, CU_POINTER_ATTRIBUTE_RANGE_START_ADDR, static_cast<CUdeviceptr>(at)) != CUDA_SUCCESS ||
        drv.pointer_get_attribute(&length, CU_POINTER_ATTRIBUTE_RANGE_SIZE, static_cast<CUdeviceptr>(at)) != CUDA_SUCCESS ||
        start > at)
      return std::nullopt;
    const auto device_at = reinterpret_cast<std::uintptr_t>(attr.devicePointer);
    return detail::registered_range{static_cast<std::uintptr_t>(start), length, device_at - (at - start)};
  };
  const std::uintptr_t dev = detail::device_address_of_range(reinterpret_cast<std::uintptr_t>(host), size, lookup);
  return reinterpret_cast<const unsigned char*>(dev);
}

}  // namespace onecopy::kernels::cuda_k
