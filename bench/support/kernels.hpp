// SPDX-License-Identifier: Apache-2.0
// The read loops the benchmarks time, identical for segments and baselines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace onecopy::bench {

/// Sums every 8-byte word of bytes (8 independent accumulators, so the loop is bound by memory
/// bandwidth, not by an add chain), split over threads threads.
[[nodiscard]] std::uint64_t sequential_sum(std::span<const std::byte> bytes, unsigned threads);

/// Sums table[index[i]] over all i: random 8-byte loads, as an embedding lookup does.
[[nodiscard]] std::uint64_t gather_sum(std::span<const std::uint64_t> table, std::span<const std::uint32_t> index);

/// Follows a chain of steps loads through table, each position computed from the value loaded
/// before it (pointer chasing, hash probing): latency-bound where gather_sum is bound by how
/// many misses the core keeps in flight. The same table contents give the same chain.
[[nodiscard]] std::uint64_t dependent_sum(std::span<const std::uint64_t> table, std::uint64_t steps);

/// Fills index with uniformly random positions in [0, limit) (splitmix64, fixed seed).
void random_indices(std::span<std::uint32_t> index, std::uint64_t limit);

}  // namespace onecopy::bench
