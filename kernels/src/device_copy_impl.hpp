// SPDX-License-Identifier: Apache-2.0
// Internal. The state behind device_copy and device_array, free of CUDA types: the CUDA file
// fills it and leaves a release function that undoes its calls (unmap, free, unregister).
#pragma once

#include <functional>
#include <optional>

#include "onecopy/kernels/device_copy.hpp"
#include "onecopy/sys/fd.hpp"

namespace onecopy::gpu {

struct device_copy::impl {
  device_copy_descriptor descriptor;
  sys::unique_fd fd;  // vmm: the exported POSIX fd
  const std::byte* data = nullptr;
  std::vector<std::string> notes;
  double copy_seconds = 0;
  double verify_seconds = 0;
  std::function<void()> release;  // noexcept in practice: only CUDA calls whose errors are ignored

  ~impl() {
    if (release) release();
  }
};

struct device_array::impl {
  share_method method = share_method::vmm;
  bool read_only = false;
  const std::byte* data = nullptr;
  std::uint64_t size = 0;
  int device = 0;
  std::uint64_t checksum = 0;
  std::uint64_t generation = 0;
  bool bundle = false;
  std::vector<tensor_entry> tensors;
  std::vector<std::string> reasons;
  std::optional<segment> host;                // process_copy/zero_copy: the segment read from
  std::optional<host_registration> registration;  // zero_copy
  std::function<void()> release;
  std::shared_ptr<const void> owner;      // legacy_ipc: the connection holding the lease
  std::function<bool()> owner_alive;
  bool invalid = false;                   // latched once owner_alive() said no

  ~impl() {
    if (release) release();  // before owner: the lease must outlive the mapping
    registration.reset();    // before the segment's mapping goes
  }
};

}  // namespace onecopy::gpu
