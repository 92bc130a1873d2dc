// SPDX-License-Identifier: Apache-2.0
// The engine's NUMA placement, exercised for real inside a multi-node guest.
#pragma once

#include <vector>

#include "harness.hpp"

namespace numa_vm {

/// Topology sanity, bind/interleave on every backing, per-node huge-page pools, readers on
/// other nodes, and the short-pool error. In run order.
[[nodiscard]] std::vector<guest_case> placement_cases();

}  // namespace numa_vm
