// SPDX-License-Identifier: Apache-2.0
// A cheap deterministic byte pattern, so separate processes can produce and check the same data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace onecopy::test {

/// The 8-byte word at word index i for seed (splitmix64).
[[nodiscard]] inline std::uint64_t pattern_word(std::uint64_t seed, std::uint64_t i) noexcept {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + i + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Fills out with the pattern as if it started at byte offset `at` of the whole region.
inline void fill_pattern(std::span<std::byte> out, std::uint64_t seed, std::uint64_t at) noexcept {
  std::size_t i = 0;
  auto byte_at = [&](std::uint64_t pos) {
    return static_cast<std::byte>(pattern_word(seed, pos / 8) >> (8 * (pos % 8)));
  };
  for (; i < out.size() && (at + i) % 8 != 0; ++i) out[i] = byte_at(at + i);
  // Whole words (little-endian, as byte_at defines them) in the middle.
  for (; i + 8 <= out.size(); i += 8) {
    const std::uint64_t w = pattern_word(seed, (at + i) / 8);
    unsigned char b[8];
    for (int k = 0; k < 8; ++k) b[k] = static_cast<unsigned char>(w >> (8 * k));
    std::memcpy(out.data() + i, b, 8);
  }
  for (; i < out.size(); ++i) out[i] = byte_at(at + i);
}

/// True when bytes equal the pattern from offset 0.
[[nodiscard]] inline bool matches_pattern(std::span<const std::byte> bytes, std::uint64_t seed) noexcept {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const std::uint64_t word = pattern_word(seed, i / 8);
    if (bytes[i] != static_cast<std::byte>(word >> (8 * (i % 8)))) return false;
  }
  return true;
}

}  // namespace onecopy::test
