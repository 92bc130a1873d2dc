// SPDX-License-Identifier: Apache-2.0
// The CUDA-free decisions behind device selection and the zero-copy compare path.
#include "pointer_placement.hpp"

#include <fmt/format.h>

#include "onecopy/error.hpp"

namespace onecopy::kernels::detail {

int kernel_device(std::span<const pointer_location> pointers) {
  int device = -1;
  for (const auto& p : pointers) {
    if (p.type != pointer_location::kind::device) continue;
    if (device >= 0 && p.device != device)
      throw usage_error(fmt::format("the kernel's arguments are in the memory of two devices (cuda:{} and cuda:{}): "
                                    "copy them to one device first",
                                    device, p.device));
    device = p.device;
  }
  return device;
}

std::uintptr_t device_address_of_range(std::uintptr_t host, std::uint64_t size, const registration_lookup& lookup) {
  std::uintptr_t device_begin = 0;
  const std::uintptr_t end = host + size;
  for (std::uintptr_t at = host; at < end;) {
    const auto r = lookup(at);
    if (!r || r->size == 0 || at < r->host || at - r->host >= r->size) return 0;
    const std::uintptr_t device_at = r->device + (at - r->host);
    if (at == host) device_begin = device_at;
    else if (device_at != device_begin + (at - host)) return 0;  // registered, but apart on the device
    at = r->host + r->size;
  }
  return device_begin;
}

}  // namespace onecopy::kernels::detail
