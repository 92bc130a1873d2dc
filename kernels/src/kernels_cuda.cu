// SPDX-License-Identifier: Apache-2.0
// The kernels on Thrust's CUDA system (namespace cuda_k), plus compare-with-host staging. The
// only .cu file: nvcc takes about 40 s per Thrust TU on 2 cores, so everything else that
// calls CUDA is plain C++ compiled by the host compiler against cudart's headers.
#define THRUST_DEVICE_SYSTEM THRUST_DEVICE_SYSTEM_CUDA
#define ONECOPY_KERNELS_NS cuda_k
#define ONECOPY_THRUST_SYSTEM cuda
#include <thrust/system/cuda/execution_policy.h>
#include <thrust/system/cuda/vector.h>

#include "kernels.inl"

#include <cuda_runtime_api.h>

#include <thrust/fill.h>

#include <stdexcept>
#include <string>

namespace onecopy::kernels::cuda_k {
namespace {

[[noreturn]] void fail(const std::string& call, cudaError_t e) {
  (void)cudaGetLastError();  // clear a non-sticky error so it does not surface in a later call
  throw std::runtime_error(call + ": " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}

struct device_buffer {
  void* p = nullptr;
  explicit device_buffer(std::size_t n) {
    if (const cudaError_t e = cudaMalloc(&p, n); e != cudaSuccess) fail("cudaMalloc(" + std::to_string(n) + " bytes)", e);
  }
  ~device_buffer() { (void)cudaFree(p); }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
};

}  // namespace

detail::raw_comparison compare_with_host(const unsigned char* a, const unsigned char* host, std::uint64_t size) {
  if (size == 0) return {};
  // A host range registered and mapped from end to end has a device address: read it in place
  // (zero-copy). Only its first byte being registered is not enough: the rest may not be.
  if (const unsigned char* mapped = registered_device_pointer(host, size); mapped != nullptr)
    return compare(a, mapped, size);
  // Otherwise stage it through the device in chunks (a multiple of 8, so word counts add up).
  constexpr std::uint64_t stage = std::uint64_t{64} << 20;
  device_buffer buf(size < stage ? size : stage);
  detail::raw_comparison total;
  for (std::uint64_t off = 0; off < size; off += stage) {
    const std::uint64_t n = size - off < stage ? size - off : stage;
    if (const cudaError_t e = cudaMemcpy(buf.p, host + off, n, cudaMemcpyHostToDevice); e != cudaSuccess)
      fail("cudaMemcpy(host+" + std::to_string(off) + ", " + std::to_string(n) + " bytes)", e);
    const detail::raw_comparison r = compare(a + off, static_cast<const unsigned char*>(buf.p), n);
    if (r.first_mismatch != UINT64_MAX && total.first_mismatch == UINT64_MAX) total.first_mismatch = off + r.first_mismatch;
    total.differing_words += r.differing_words;
  }
  return total;
}

void write_byte(unsigned char* p) {
  thrust::fill_n(thrust::cuda::par, p, 1, static_cast<unsigned char>(0xA5));
  if (const cudaError_t e = cudaDeviceSynchronize(); e != cudaSuccess) fail("write through a device pointer", e);
}

}  // namespace onecopy::kernels::cuda_k
