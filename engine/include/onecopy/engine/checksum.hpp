// SPDX-License-Identifier: Apache-2.0
// The segment checksum: chunked xxh3-64. The data is cut into 16 MiB chunks (the last one
// shorter); the checksum is the xxh3-64 of the little-endian sequence of the chunks' xxh3-64
// digests. Chunks are independent, so CPU threads and GPU blocks compute the same value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace onecopy {

inline constexpr std::uint64_t checksum_chunk_size = 16u << 20;
inline constexpr std::uint32_t checksum_algorithm_xxh3_chunked = 1;

/// xxh3-64 of one chunk (seed 0).
[[nodiscard]] std::uint64_t chunk_digest(std::span<const std::byte> chunk) noexcept;

/// Combines per-chunk digests (in order) into the segment checksum.
[[nodiscard]] std::uint64_t combine_digests(std::span<const std::uint64_t> digests) noexcept;

/// The segment checksum of data, computed with up to threads threads (0 = hardware threads).
[[nodiscard]] std::uint64_t segment_checksum(std::span<const std::byte> data, unsigned threads = 0);

}  // namespace onecopy
