// SPDX-License-Identifier: Apache-2.0
// More than 2^31 elements through a backend (kernels_test: openmp; kernels_gpu_test: cuda), so
// a 32-bit index or offset anywhere in Thrust/CUB dispatch or our functors shows up as a wrong
// count, sum, checksum or mismatch offset. 2 GiB + 4 KiB of u8 in a memfd, mapped twice: shared
// (the data) and private (the same bytes, one flipped past 2^31: only that page is copied), so
// the whole test needs ~2 GiB of memory, not 4.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <span>

#include "onecopy/engine/checksum.hpp"
#include "onecopy/kernels/kernels.hpp"

namespace onecopy::test {

inline constexpr std::uint64_t large_elements = (std::uint64_t{1} << 31) + 4104;  // > INT32_MAX u8
inline constexpr std::uint64_t large_flipped_at = (std::uint64_t{1} << 31) + 77;

class large_input {
 public:
  large_input() {
    fd_ = ::memfd_create("onecopy-large-input", MFD_CLOEXEC);
    if (fd_ < 0 || ::ftruncate(fd_, static_cast<off_t>(large_elements)) != 0) return;
    void* a = ::mmap(nullptr, large_elements, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (a == MAP_FAILED) return;
    shared_ = static_cast<std::byte*>(a);
    // Not periodic (so chunks hash differently), every byte value present.
    for (std::uint64_t i = 0; i < large_elements; ++i)
      shared_[i] = static_cast<std::byte>(((i + (i >> 32)) * 0x9E3779B97F4A7C15ull) >> 56);
    void* b = ::mmap(nullptr, large_elements, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd_, 0);
    if (b == MAP_FAILED) return;
    flipped_ = static_cast<std::byte*>(b);
    flipped_[large_flipped_at] ^= std::byte{0x40};
  }
  large_input(const large_input&) = delete;
  large_input& operator=(const large_input&) = delete;
  ~large_input() {
    if (shared_ != nullptr) ::munmap(shared_, large_elements);
    if (flipped_ != nullptr) ::munmap(flipped_, large_elements);
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] bool ok() const noexcept { return shared_ != nullptr && flipped_ != nullptr; }
  [[nodiscard]] std::span<const std::byte> data() const noexcept { return {shared_, large_elements}; }
  [[nodiscard]] std::span<const std::byte> flipped() const noexcept { return {flipped_, large_elements}; }

 private:
  int fd_ = -1;
  std::byte* shared_ = nullptr;
  std::byte* flipped_ = nullptr;
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
