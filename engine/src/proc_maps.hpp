// SPDX-License-Identifier: Apache-2.0
// Internal. Who maps what, from /proc/*/maps.
#pragma once

#include <cstdint>
#include <vector>

namespace onecopy::detail {

/// A file as /proc/PID/maps names it: device (major, minor) and inode.
struct file_id {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::uint64_t inode = 0;
  friend bool operator==(const file_id&, const file_id&) = default;
};
/// The file_id of a stat device number and inode.
[[nodiscard]] file_id file_id_of(std::uint64_t device, std::uint64_t inode) noexcept;

/// PIDs (readable to us) whose maps contain file.
[[nodiscard]] std::vector<int> pids_mapping(const file_id& file);

}  // namespace onecopy::detail
