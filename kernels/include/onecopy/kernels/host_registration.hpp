// SPDX-License-Identifier: Apache-2.0
// Page-locking a published segment's mapping for the GPUs (cudaHostRegister), so copies run at
// pinned speed and kernels can read it in place (zero-copy). Done once, by the owner process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "onecopy/engine/segment.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/sys/fd.hpp"

namespace onecopy::gpu {

/// Largest range one cudaHostRegister call gets: ≥ 512 GiB in one call fails on r580+ drivers
/// and leaves a pending error behind (gpu-notes §2.1), so registration goes in chunks.
inline constexpr std::uint64_t max_register_chunk = std::uint64_t{64} << 30;

/// One cudaHostRegister call's range, relative to the start of the mapping.
struct register_chunk {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  friend bool operator==(const register_chunk&, const register_chunk&) = default;
};

/// Cuts [0, size) into chunks of at most max_chunk bytes that start and (but for the last)
/// end on multiples of page_size. max_chunk is rounded down to a whole number of pages.
/// @throws usage_error when page_size is 0 or larger than max_chunk
[[nodiscard]] std::vector<register_chunk> plan_register_chunks(std::uint64_t size, std::uint64_t page_size,
                                                               std::uint64_t max_chunk = max_register_chunk);

/// Serialises cudaHostRegister across processes: the driver pins with pin_user_pages, and
/// several processes pinning large ranges at once can fail with ENOMEM (and slow each other
/// down). A blocking flock(LOCK_EX) on a lock file that is never removed; released on destruction.
class registration_lock {
 public:
  /// Blocks until this process holds the lock on path (created 0600 if missing).
  /// @throws os_error naming the path (open or flock failing)
  explicit registration_lock(const std::filesystem::path& path);
  /// Seconds spent waiting for another process's registration.
  [[nodiscard]] double waited_seconds() const noexcept { return waited_; }

 private:
  sys::unique_fd fd_;
  double waited_ = 0;
};

/// The lock file of registration_lock: ONECOPY_REGISTER_LOCK when set, else
/// <store runtime dir>/cuda-register.lock of store::from_environment(); empty when neither can
/// be had (then registrations are not serialised).
[[nodiscard]] std::filesystem::path default_register_lock_path() noexcept;

/// How a segment's mapping is registered.
enum class register_mode {
  read_only,         ///< Portable|Mapped|ReadOnly on the segment's own PROT_READ mapping
  writable_mapping,  ///< Portable|Mapped on a second PROT_READ|PROT_WRITE MAP_SHARED mapping of the
                     ///< file (devices without HostRegisterReadOnlySupported); read-only by API only
  none,              ///< not registered (by plan, or a cudaHostRegister failed): copies read
                     ///< pageable memory, no zero-copy pointer; reason() says why
};
/// "read-only", "writable-mapping", "none".
[[nodiscard]] std::string_view to_string(register_mode m) noexcept;

/// The mode for a set of devices, and why.
struct register_plan {
  register_mode mode = register_mode::none;
  unsigned flags = 0;  ///< cudaHostRegister flags (Portable 0x1, Mapped 0x2, ReadOnly 0x8)
  std::string reason;  ///< one line
};
/// ReadOnly when every device supports it; else a writable shared mapping when the file can be
/// opened for writing (file_writable), else none. None also when a device reads pageable
/// memory through the host page tables (Grace Hopper): registering does not pin there.
[[nodiscard]] register_plan plan_registration(const std::vector<device_info>& devices, bool file_writable);

/// A registered segment mapping; unregisters every chunk when destroyed. Move-only. The
/// segment must outlive it.
class host_registration {
 public:
  /// Registers s's whole mapping (header included, so every chunk starts on a page) for all
  /// devices, in chunks of at most max_register_chunk, as plan_registration() decides, holding
  /// registration_lock(lock_file) meanwhile (default_register_lock_path() when empty).
  /// Not registering is not an error: a plan of register_mode::none, a failed cudaHostRegister
  /// (the chunks done are unregistered) or a writable mapping that cannot be made all give
  /// register_mode::none, and reason() names the chunk, the flags and the cudaError. Callers
  /// keep that result: retrying costs the same seconds and fails the same way.
  /// @throws gpu_error when CUDA is unavailable
  [[nodiscard]] static host_registration of(const segment& s, const std::filesystem::path& lock_file = {});

  host_registration(host_registration&&) noexcept;
  host_registration& operator=(host_registration&&) noexcept;
  ~host_registration();

  [[nodiscard]] register_mode mode() const noexcept;
  /// Why this mode (one line), e.g. "device 0 lacks HostRegisterReadOnlySupported: …".
  [[nodiscard]] const std::string& reason() const noexcept;
  /// The segment's data in the registered mapping (the segment's own, or the writable one).
  [[nodiscard]] std::span<const std::byte> host_data() const noexcept;
  /// The device pointer of host_data() (cudaHostGetDevicePointer) for zero-copy reads, or
  /// nullptr when not registered or the chunks' device addresses are not contiguous.
  [[nodiscard]] const std::byte* device_data() const noexcept;
  /// Seconds all cudaHostRegister calls took.
  [[nodiscard]] double seconds() const noexcept;
  /// Seconds spent waiting for other processes' registrations (registration_lock).
  [[nodiscard]] double lock_wait_seconds() const noexcept;
  /// The chunks registered.
  [[nodiscard]] const std::vector<register_chunk>& chunks() const noexcept;

  struct impl;
  explicit host_registration(std::unique_ptr<impl> p) noexcept;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace onecopy::gpu
