// SPDX-License-Identifier: Apache-2.0
// Device memory a process owns (cudaMalloc): inputs and outputs for the kernels, and the
// write probe that checks read-only device mappings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace onecopy::gpu {

/// size bytes on one device, freed on destruction. Move-only.
class device_buffer {
 public:
  /// @throws gpu_error when CUDA is unavailable or cudaMalloc fails (naming the size and device)
  [[nodiscard]] static device_buffer allocate(std::uint64_t size, int device = 0);

  device_buffer(device_buffer&&) noexcept;
  device_buffer& operator=(device_buffer&&) noexcept;
  ~device_buffer();

  /// Copies host to [offset, offset + host.size()) (cudaMemcpy; pinned sources go faster).
  /// @throws usage_error when it does not fit; gpu_error when the copy fails
  void upload(std::span<const std::byte> host, std::uint64_t offset = 0);
  /// Copies [offset, offset + host.size()) back to host.
  /// @throws usage_error when it does not fit; gpu_error when the copy fails
  void download(std::span<std::byte> host, std::uint64_t offset = 0) const;

  [[nodiscard]] std::byte* data() const noexcept;  ///< a device pointer
  [[nodiscard]] std::uint64_t size() const noexcept;
  [[nodiscard]] int device() const noexcept;

  struct impl;
  explicit device_buffer(std::unique_ptr<impl> p) noexcept;

 private:
  std::unique_ptr<impl> impl_;
};

/// Writes one byte through device pointer p from a kernel on the current device, to check that
/// a mapping is read-only. Returns "" when the write went through, else the CUDA error (a fault
/// is sticky: this process's CUDA context is unusable afterwards — call it in a child process).
/// @throws gpu_error when CUDA is unavailable
[[nodiscard]] std::string attempt_device_write(const std::byte* p);

}  // namespace onecopy::gpu
