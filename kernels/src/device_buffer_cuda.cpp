// SPDX-License-Identifier: Apache-2.0
// device_buffer with CUDA: cudaMalloc'd memory with checked copies.
#include <fmt/format.h>

#include "backend_api.hpp"
#include "cuda_util.hpp"
#include "onecopy/error.hpp"
#include "onecopy/kernels/device_buffer.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/units.hpp"

namespace onecopy::gpu {

struct device_buffer::impl {
  void* p = nullptr;
  std::uint64_t size = 0;
  int device = 0;
  ~impl() { (void)cudaFree(p); }
};

device_buffer::device_buffer(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
device_buffer::device_buffer(device_buffer&&) noexcept = default;
device_buffer& device_buffer::operator=(device_buffer&&) noexcept = default;
device_buffer::~device_buffer() = default;

device_buffer device_buffer::allocate(std::uint64_t size, int device) {
  if (!probe().available) throw gpu_error(fmt::format("allocate {} on cuda:{}: {}", format_bytes(size), device, probe().reason));
  detail::check(cudaSetDevice(device), fmt::format("cudaSetDevice({})", device));
  auto b = std::make_unique<impl>();
  detail::check(cudaMalloc(&b->p, std::max<std::uint64_t>(size, 1)), fmt::format("cudaMalloc({}) on cuda:{}", format_bytes(size), device));
  b->size = size;
  b->device = device;
  return device_buffer(std::move(b));
}

namespace {
void check_range(std::uint64_t offset, std::uint64_t n, std::uint64_t size, const char* what) {
  if (offset > size || n > size - offset)
    throw usage_error(fmt::format("device_buffer::{}: {} bytes at offset {} do not fit in {} bytes", what, n, offset, size));
}
}  // namespace

void device_buffer::upload(std::span<const std::byte> host, std::uint64_t offset) {
  check_range(offset, host.size(), impl_->size, "upload");
  detail::check(cudaMemcpy(static_cast<std::byte*>(impl_->p) + offset, host.data(), host.size(), cudaMemcpyHostToDevice),
                fmt::format("cudaMemcpy(host → cuda:{}, {})", impl_->device, format_bytes(host.size())));
}

void device_buffer::download(std::span<std::byte> host, std::uint64_t offset) const {
  check_range(offset, host.size(), impl_->size, "download");
  detail::check(cudaMemcpy(host.data(), static_cast<const std::byte*>(impl_->p) + offset, host.size(), cudaMemcpyDeviceToHost),
                fmt::format("cudaMemcpy(cuda:{} → host, {})", impl_->device, format_bytes(host.size())));
}

std::byte* device_buffer::data() const noexcept { return static_cast<std::byte*>(impl_->p); }
std::uint64_t device_buffer::size() const noexcept { return impl_->size; }
int device_buffer::device() const noexcept { return impl_->device; }

std::string attempt_device_write(const std::byte* p) {
  if (!probe().available) throw gpu_error(fmt::format("attempt_device_write: {}", probe().reason));
  try {
    const kernels::cuda_k::device_scope on_its_device({p});  // the write runs where p lives
    kernels::cuda_k::write_byte(reinterpret_cast<unsigned char*>(const_cast<std::byte*>(p)));
    return {};
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace onecopy::gpu
