// SPDX-License-Identifier: Apache-2.0
// Internal. One checksum chunk's digest fed in pieces: the same value as chunk_digest of the
// pieces laid end to end, so a fill can checksum bytes while it copies them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

namespace onecopy::detail {

class chunk_hasher {
 public:
  chunk_hasher();
  ~chunk_hasher();
  chunk_hasher(const chunk_hasher&) = delete;
  chunk_hasher& operator=(const chunk_hasher&) = delete;
  /// Starts a new chunk.
  void reset() noexcept;
  void update(std::span<const std::byte> piece) noexcept;
  /// len zero bytes (padding no file supplies).
  void update_zeros(std::uint64_t len) noexcept;
  /// Equals chunk_digest of everything fed since reset().
  [[nodiscard]] std::uint64_t digest() const noexcept;

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace onecopy::detail
