// SPDX-License-Identifier: Apache-2.0
// Internal. Placing a mapping's pages on NUMA nodes: the policy (mbind) before the first touch,
// populating with threads pinned to the target nodes' CPUs, and reading back where pages went.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "onecopy/engine/options.hpp"
#include "onecopy/engine/segment_info.hpp"

namespace onecopy::detail {

/// The placement with interleave's empty node list expanded to every memory node, checked
/// against the nodes that are online.
/// @throws usage_error naming a node that does not exist or has no memory
[[nodiscard]] placement resolve_placement(const placement& where);

/// mbind(addr, len) per where; nothing for numa_policy::local. The pages must not exist yet.
/// @throws os_error "mbind(<policy>, <len>)"
void apply_policy(std::span<std::byte> range, const placement& where);

/// Faults in every page of range for writing (MADV_POPULATE_WRITE), split over threads pinned to
/// the CPUs of where's nodes. Returns the errno of the first failure (0 on success): EFAULT or
/// ENOMEM when tmpfs or the huge-page pool runs out.
[[nodiscard]] int populate_write(std::span<std::byte> range, std::uint64_t page_size,
                                 const placement& where, unsigned threads);

/// Prefaults range for reading (MADV_POPULATE_READ). Returns errno or 0.
[[nodiscard]] int populate_read(std::span<const std::byte> range);

/// The same split over threads as populate_write: for pages a read fault still has to zero (a
/// huge= tmpfs's fallocated folios), so the zeroing runs on every thread.
[[nodiscard]] int populate_read(std::span<const std::byte> range, std::uint64_t page_size,
                                const placement& where, unsigned threads);

/// Pages of range per node (move_pages, one query per page of page_size); missing pages skipped.
[[nodiscard]] std::vector<node_pages> node_histogram(std::span<const std::byte> range,
                                                     std::uint64_t page_size);

/// CPUs populate threads may run on for where (all allowed CPUs for local/interleave).
[[nodiscard]] std::vector<int> cpus_for(const placement& where);


}  // namespace onecopy::detail
