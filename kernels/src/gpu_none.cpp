// SPDX-License-Identifier: Apache-2.0
// The GPU path of a build without CUDA (ONECOPY_CUDA=OFF or no nvcc): probe() says so, and
// everything that would need CUDA throws gpu_error with that reason.
#include <fmt/format.h>

#include "backend_api.hpp"
#include "device_copy_impl.hpp"
#include "onecopy/kernels/device_buffer.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/kernels/host_registration.hpp"

namespace onecopy::gpu {

namespace {
constexpr const char* no_cuda = "built without CUDA (ONECOPY_CUDA=OFF or no nvcc at build time)";
[[noreturn]] void unavailable(std::string_view what) { throw gpu_error(fmt::format("{}: {}", what, no_cuda)); }
}  // namespace

const probe_result& probe() noexcept {
  static const probe_result* result = [] {
    auto* r = new probe_result;
    r->reason = no_cuda;
    return r;
  }();
  return *result;
}

struct host_registration::impl {
  register_plan plan;
  std::span<const std::byte> data;
  std::vector<register_chunk> chunks;
};
host_registration::host_registration(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
host_registration::host_registration(host_registration&&) noexcept = default;
host_registration& host_registration::operator=(host_registration&&) noexcept = default;
host_registration::~host_registration() = default;
host_registration host_registration::of(const segment& s, const std::filesystem::path&) {
  unavailable(fmt::format("register segment '{}'", s.name()));
}
register_mode host_registration::mode() const noexcept { return impl_->plan.mode; }
const std::string& host_registration::reason() const noexcept { return impl_->plan.reason; }
std::span<const std::byte> host_registration::host_data() const noexcept { return impl_->data; }
const std::byte* host_registration::device_data() const noexcept { return nullptr; }
double host_registration::seconds() const noexcept { return 0; }
double host_registration::lock_wait_seconds() const noexcept { return 0; }
const std::vector<register_chunk>& host_registration::chunks() const noexcept { return impl_->chunks; }

device_copy device_copy::create(const segment& s, const device_info&, const host_registration*, std::uint64_t) {
  unavailable(fmt::format("device copy of '{}'", s.name()));
}
device_array device_array::import(const device_copy_descriptor&, int) { unavailable("import a device copy"); }
device_array device_array::copy_of(segment s, int) { unavailable(fmt::format("copy of '{}'", s.name())); }
device_array device_array::zero_copy(segment s, int) { unavailable(fmt::format("zero-copy of '{}'", s.name())); }

struct device_buffer::impl {};
device_buffer::device_buffer(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
device_buffer::device_buffer(device_buffer&&) noexcept = default;
device_buffer& device_buffer::operator=(device_buffer&&) noexcept = default;
device_buffer::~device_buffer() = default;
device_buffer device_buffer::allocate(std::uint64_t, int) { unavailable("allocate device memory"); }
void device_buffer::upload(std::span<const std::byte>, std::uint64_t) { unavailable("device_buffer::upload"); }
void device_buffer::download(std::span<std::byte>, std::uint64_t) const { unavailable("device_buffer::download"); }
std::byte* device_buffer::data() const noexcept { return nullptr; }
std::uint64_t device_buffer::size() const noexcept { return 0; }
int device_buffer::device() const noexcept { return -1; }
std::string attempt_device_write(const std::byte*) { unavailable("attempt_device_write"); }

}  // namespace onecopy::gpu

namespace onecopy::kernels::cuda_k {
using gpu::gpu_error;
void chunk_digests(const unsigned char*, std::uint64_t, std::uint64_t*) { gpu::unavailable("checksum on cuda"); }
detail::raw_reduction reduce(detail::elem_kind, const unsigned char*, std::uint64_t) { gpu::unavailable("reduce on cuda"); }
detail::bad_index gather_rows(const unsigned char*, std::uint64_t, std::uint64_t, const void*, bool, std::uint64_t,
                              unsigned char*) {
  gpu::unavailable("gather_rows on cuda");
}
detail::raw_comparison compare(const unsigned char*, const unsigned char*, std::uint64_t) { gpu::unavailable("compare on cuda"); }
detail::raw_comparison compare_with_host(const unsigned char*, const unsigned char*, std::uint64_t) {
  gpu::unavailable("compare on cuda");
}
void write_byte(unsigned char*) { gpu::unavailable("write on cuda"); }
device_scope::device_scope(std::initializer_list<const void*>) {}
device_scope::~device_scope() = default;
const unsigned char* registered_device_pointer(const unsigned char*, std::uint64_t) { return nullptr; }
}  // namespace onecopy::kernels::cuda_k
