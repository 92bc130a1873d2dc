// SPDX-License-Identifier: Apache-2.0
// One device-resident copy of a segment per GPU, made by the owner process and shared with
// clients (device_copy), and a client's read-only device view of a segment however it was
// obtained (device_array). Fallbacks in order: VMM + POSIX fd → legacy CUDA IPC → a copy of
// the client's own → zero-copy reads of registered host memory; each one taken says why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "onecopy/engine/layout.hpp"
#include "onecopy/engine/segment.hpp"
#include "onecopy/engine/tensor_view.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/kernels/host_registration.hpp"

namespace onecopy::gpu {

/// How a client's device view of a segment was obtained.
enum class share_method {
  vmm,           ///< the owner's cuMemCreate copy, imported from a POSIX fd, mapped PROT_READ
  legacy_ipc,    ///< the owner's cudaMalloc copy through cudaIpcOpenMemHandle (read-write mapping)
  process_copy,  ///< a cudaMalloc copy of this process's own
  zero_copy,     ///< kernels read the registered host mapping over the bus
};
/// "vmm", "legacy-ipc", "process-copy", "zero-copy".
[[nodiscard]] std::string_view to_string(share_method m) noexcept;
/// The inverse of to_string, or std::nullopt.
[[nodiscard]] std::optional<share_method> parse_share_method(std::string_view text) noexcept;

/// What the owner tells a client about a device copy (the VMM fd travels beside it).
struct device_copy_descriptor {
  share_method method = share_method::vmm;  ///< vmm or legacy_ipc
  std::string device_uuid;                  ///< match devices by uuid: ordinals differ per process
  std::uint64_t data_size = 0;              ///< bytes of segment data at the start of the copy
  std::uint64_t alloc_size = 0;             ///< the allocation's size (VMM granularity multiple)
  std::uint64_t checksum = 0;               ///< segment checksum, verified on the device by the owner
  std::uint64_t generation = 0;             ///< changes when the name is published anew
  std::string ipc_handle;                   ///< legacy_ipc: the 64-byte cudaIpcMemHandle_t in hex
  bool bundle = false;
  std::vector<tensor_entry> tensors;        ///< offsets into the copy
};

/// The owner's device copy of one segment on one device. Move-only. VMM memory outlives it as
/// long as clients map it; legacy IPC memory does not (clients must be gone first).
class device_copy {
 public:
  /// Copies s to device dev: cuMemCreate with a POSIX-fd handle when the device supports VMM,
  /// else cudaMalloc + legacy IPC (the reason is kept in notes()). Copies in chunks from reg's
  /// pinned mapping when given (else from pageable memory), then verifies the checksum on the
  /// device. The owner's own VMM mapping is switched to PROT_READ when the driver allows.
  /// @throws gpu_error naming the step, the segment and the device (both methods failing
  ///         lists both reasons); the checksum mismatch names both values
  [[nodiscard]] static device_copy create(const segment& s, const device_info& dev,
                                          const host_registration* reg, std::uint64_t generation);

  device_copy(device_copy&&) noexcept;
  device_copy& operator=(device_copy&&) noexcept;
  ~device_copy();

  [[nodiscard]] const device_copy_descriptor& descriptor() const noexcept;
  /// The exported POSIX fd (vmm), or -1 (legacy_ipc). Owned by this object.
  [[nodiscard]] int fd() const noexcept;
  /// The owner's device pointer to the copy.
  [[nodiscard]] const std::byte* data() const noexcept;
  /// Fallbacks taken and other remarks, one line each.
  [[nodiscard]] const std::vector<std::string>& notes() const noexcept;
  [[nodiscard]] double copy_seconds() const noexcept;
  [[nodiscard]] double verify_seconds() const noexcept;

  struct impl;
  explicit device_copy(std::unique_ptr<impl> p) noexcept;

 private:
  std::unique_ptr<impl> impl_;
};

/// A client's read-only device view of a segment's data. Move-only; unmaps/frees on destruction.
class device_array {
 public:
  /// Imports an owner's copy: VMM (fd → cuMemImportFromShareableHandle, map, release, then
  /// cuMemSetAccess PROT_READ, falling back to read-write with a reason) or legacy IPC
  /// (cudaIpcOpenMemHandle). Does not take fd: the caller closes it.
  /// @throws gpu_error naming the step
  [[nodiscard]] static device_array import(const device_copy_descriptor& d, int fd);
  /// cudaMalloc + copy of s on device (this process's numbering), verified by checksum.
  /// @throws gpu_error naming the step
  [[nodiscard]] static device_array copy_of(segment s, int device);
  /// Registers s in this process and reads it in place (costs ~0.1 s/GB to register).
  /// @throws gpu_error when registration is impossible or gives no device pointer
  [[nodiscard]] static device_array zero_copy(segment s, int device);

  device_array(device_array&&) noexcept;
  device_array& operator=(device_array&&) noexcept;
  ~device_array();

  [[nodiscard]] share_method method() const noexcept;
  /// True when the hardware refuses writes (VMM PROT_READ, read-only registration).
  [[nodiscard]] bool read_only() const noexcept;
  /// Device pointer to the data. Never dereference it on the host.
  [[nodiscard]] const std::byte* data() const noexcept;
  [[nodiscard]] std::uint64_t size() const noexcept;
  /// This process's ordinal of the device holding (or reading) it.
  [[nodiscard]] int device() const noexcept;
  [[nodiscard]] std::uint64_t checksum() const noexcept;
  [[nodiscard]] std::uint64_t generation() const noexcept;
  /// Views of the tensors, with bytes pointing to device memory.
  [[nodiscard]] std::vector<tensor_view> tensors() const;
  /// @throws usage_error when there is no tensor of that name
  [[nodiscard]] tensor_view tensor(std::string_view name) const;
  /// Why earlier methods were not used, one line each (empty for a first-choice VMM import).
  [[nodiscard]] const std::vector<std::string>& reasons() const noexcept;
  void add_reasons(const std::vector<std::string>& earlier);
  /// False once the owner this array's memory depends on is gone (a legacy-IPC import whose
  /// server died or closed the connection: the memory may already be freed, so data() must not
  /// be used again). Latched. Always true for vmm, process_copy and zero_copy arrays.
  [[nodiscard]] bool valid() const;
  /// Keeps owner (e.g. the connection that holds the lease) alive as long as this array, and
  /// asks owner_alive() in valid(). Used by serve::client for legacy-IPC imports.
  void hold_owner(std::shared_ptr<const void> owner, std::function<bool()> owner_alive);

  struct impl;
  explicit device_array(std::unique_ptr<impl> p) noexcept;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace onecopy::gpu
