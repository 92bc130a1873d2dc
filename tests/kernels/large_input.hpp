// SPDX-License-Identifier: Apache-2.0
// More than 2^31 elements through a backend (kernels_test: openmp; kernels_gpu_test: cuda), so
// a 32-bit index or offset anywhere in Thrust/CUB dispatch or our functors shows up as a wrong
// count, sum, checksum or mismatch offset. 2 GiB + 4 KiB of u8 in a memfd, mapped twice: shared
// (the data) and private (the same bytes, one flipped past 2^31: only that page is copied), so
// the whole test needs ~2 GiB of memory, not 4.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>  // memfd_create
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <span>

#include "onecopy/engine/checksum.hpp"
#include "onecopy/kernels/kernels.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/sys/memory.hpp"

namespace onecopy::test {

inline constexpr std::uint64_t large_elements = (std::uint64_t{1} << 31) + 4104;  // > INT32_MAX u8
inline constexpr std::uint64_t large_flipped_at = (std::uint64_t{1} << 31) + 77;

class large_input {
 public:
  /// @throws os_error naming the call when memory runs out
  large_input()
      : fd_(::memfd_create("onecopy-large-input", MFD_CLOEXEC)) {
    if (!fd_) sys::throw_errno("memfd_create(onecopy-large-input)");
    sys::truncate(fd_.get(), large_elements, "memfd onecopy-large-input");
    shared_ = sys::map_shared(fd_.get(), large_elements, sys::access::read_write, "memfd onecopy-large-input");
    // Not periodic (so chunks hash differently), every byte value present.
    for (std::uint64_t i = 0; i < large_elements; ++i)
      shared_.data()[i] = static_cast<std::byte>(((i + (i >> 32)) * 0x9E3779B97F4A7C15ull) >> 56);
    flipped_ = sys::map_private(fd_.get(), large_elements, "memfd onecopy-large-input");
    flipped_.data()[large_flipped_at] ^= std::byte{0x40};
  }
  [[nodiscard]] std::span<const std::byte> data() const noexcept { return shared_.bytes(); }
  [[nodiscard]] std::span<const std::byte> flipped() const noexcept { return flipped_.bytes(); }

 private:
  sys::unique_fd fd_;
  sys::mapping shared_;
  sys::mapping flipped_;
};

/// Runs the checks on backend b; on_backend is the data as that backend reads it (the host
/// mapping for CPU backends, a device copy for cuda).
inline void expect_large_input_right(kernels::backend b, const large_input& in, std::span<const std::byte> on_backend) {
  std::uint64_t sum = 0;
  unsigned min = 255, max = 0;
  for (const std::byte x : in.data()) {
    const auto v = static_cast<unsigned>(x);
    sum += v;
    min = v < min ? v : min;
    max = v > max ? v : max;
  }
  const auto r = kernels::reduce(b, dtype::u8, on_backend);
  EXPECT_EQ(r.count, large_elements);
  EXPECT_EQ(std::get<std::uint64_t>(r.sum), sum);
  EXPECT_EQ(std::get<std::uint64_t>(r.min), min);
  EXPECT_EQ(std::get<std::uint64_t>(r.max), max);
  EXPECT_EQ(kernels::checksum(b, on_backend), segment_checksum(in.data()));
  EXPECT_TRUE(kernels::compare(b, on_backend, in.data()).equal);
  const auto c = kernels::compare(b, on_backend, in.flipped());
  EXPECT_FALSE(c.equal);
  EXPECT_EQ(c.first_mismatch, large_flipped_at);
  EXPECT_EQ(c.differing_words, 1u);
}

}  // namespace onecopy::test
