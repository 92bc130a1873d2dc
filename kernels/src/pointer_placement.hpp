// SPDX-License-Identifier: Apache-2.0
// Internal, CUDA-free (tested on any host). Where a kernel must run given what CUDA says about
// the pointers it reads, and whether a host range is registered from end to end; the CUDA half
// (pointer_placement_cuda.cpp) asks the runtime and driver and feeds these.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

namespace onecopy::kernels::detail {

/// What CUDA says about one pointer a kernel reads or writes (cudaPointerGetAttributes).
struct pointer_location {
  enum class kind { host_unregistered, host_registered, device, managed };
  kind type = kind::host_unregistered;
  int device = -1;  ///< device memory: the ordinal of the device holding it
};

/// The device a kernel over these pointers must run on: the one whose memory they point into;
/// -1 when none is device memory (registered host and managed memory are readable from the
/// current device, which then stays).
/// @throws usage_error when two pointers are in different devices' memory
[[nodiscard]] int kernel_device(std::span<const pointer_location> pointers);

/// One registered host range as CUDA reports it.
struct registered_range {
  std::uintptr_t host = 0;    ///< first byte of the registration
  std::uint64_t size = 0;     ///< its length
  std::uintptr_t device = 0;  ///< the device address of its first byte
};
/// Returns the registration containing an address, or nullopt when it is not registered.
using registration_lookup = std::function<std::optional<registered_range>(std::uintptr_t)>;

/// The device address of host when [host, host + size) is registered from end to end (possibly
/// by several registrations, e.g. 64 GiB chunks) at contiguous device addresses; 0 otherwise
/// (a hole, an unregistered end, or chunks mapped apart in device space). pre: size > 0
[[nodiscard]] std::uintptr_t device_address_of_range(std::uintptr_t host, std::uint64_t size,
                                                     const registration_lookup& lookup);

}  // namespace onecopy::kernels::detail
