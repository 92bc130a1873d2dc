// SPDX-License-Identifier: Apache-2.0
// Internal. What each Thrust backend built from kernels.inl provides: cpp_k (serial), omp_k
// (OpenMP) and cuda_k (kernels_cuda.cu; without CUDA, stubs in gpu_none.cpp that throw). Plain pointers and C++17 only, so the nvcc TU (C++17) and
// the g++ TUs (C++20) share it and no Thrust type leaks out. Pointers are in memory the
// backend can read: host memory for cpp_k/omp_k, device-accessible memory for cuda_k.
#pragma once

#include <cstdint>
#include <initializer_list>

namespace onecopy::kernels::detail {

/// Element types the reductions read (f16/bf16 are decoded from their raw bits).
enum class elem_kind : int { u8, i8, u16, i16, u32, i32, u64, i64, f16, bf16, f32, f64 };

/// Which accumulator a reduction used.
enum class sum_kind : int { signed_int, unsigned_int, floating };

/// A reduction's raw result; fields of the other kinds are zero.
struct raw_reduction {
  sum_kind kind = sum_kind::floating;
  std::uint64_t count = 0;
  std::uint64_t nan_count = 0;   // floating only
  std::uint64_t int_sum = 0;     // integers: exact sum modulo 2^64 (two's complement for signed)
  std::int64_t int_min = 0, int_max = 0;
  std::uint64_t uint_min = 0, uint_max = 0;
  double float_sum = 0, float_min = 0, float_max = 0;  // min/max ignore NaN
};

/// Where two byte ranges first differ and how many 8-byte words differ.
struct raw_comparison {
  std::uint64_t first_mismatch = UINT64_MAX;  // byte offset; UINT64_MAX when equal
  std::uint64_t differing_words = 0;          // 8-byte words (the last one may be shorter)
};

/// A gather index outside the table: its position in the index array and its value.
struct bad_index {
  std::uint64_t position = UINT64_MAX;  // UINT64_MAX when every index is valid
  std::int64_t value = 0;
};

}  // namespace onecopy::kernels::detail

// The same four entry points in each backend namespace.
#define ONECOPY_DECLARE_KERNEL_BACKEND(ns)                                                        \
  namespace onecopy::kernels::ns {                                                               \
  /* xxh3-64 of each 16 MiB chunk of data (the last one shorter) into digests (host memory, */   \
  /* ceil(size / 16 MiB) entries). pre: data % 8 == 0 */                                        \
  void chunk_digests(const unsigned char* data, std::uint64_t size, std::uint64_t* digests);     \
  /* count elements of kind at data. pre: data aligned to the element size */                   \
  detail::raw_reduction reduce(detail::elem_kind kind, const unsigned char* data,                \
                               std::uint64_t count);                                             \
  /* out row k = table row indices[k]; indices are int32 or int64. Writes nothing and returns */ \
  /* the first bad index when one is outside [0, rows). */                                      \
  detail::bad_index gather_rows(const unsigned char* table, std::uint64_t rows,                  \
                                std::uint64_t row_bytes, const void* indices, bool index64,      \
                                std::uint64_t count, unsigned char* out);                        \
  /* a[0, size) against b[0, size). */                                                           \
  detail::raw_comparison compare(const unsigned char* a, const unsigned char* b,                 \
                                 std::uint64_t size);                                            \
  }

ONECOPY_DECLARE_KERNEL_BACKEND(cpp_k)
ONECOPY_DECLARE_KERNEL_BACKEND(omp_k)
ONECOPY_DECLARE_KERNEL_BACKEND(cuda_k)

namespace onecopy::kernels::cuda_k {
/// Makes current, for its lifetime, the device whose memory the given pointers are in (null
/// pointers and host/managed memory are ignored), and restores the previous device after: a
/// kernel launched on another device than its data's is an illegal address on multi-GPU hosts.
/// @throws usage_error when the pointers are in two devices' memory; std::runtime_error when
///         CUDA cannot set the device
class device_scope {
 public:
  explicit device_scope(std::initializer_list<const void*> pointers);
  ~device_scope();
  device_scope(const device_scope&) = delete;
  device_scope& operator=(const device_scope&) = delete;

 private:
  int previous_ = -1;  // the device to restore, or -1 when unchanged
};

/// The device address of [host, host + size) when it is registered and mapped from end to end
/// (every registration chunk, at contiguous device addresses), else nullptr.
const unsigned char* registered_device_pointer(const unsigned char* host, std::uint64_t size);

/// compare() of device memory a with host memory host: reads host through its device pointer
/// when all of it is registered and mapped, else stages it through a device buffer in chunks.
detail::raw_comparison compare_with_host(const unsigned char* a, const unsigned char* host, std::uint64_t size);
/// Writes 0xA5 to *p from a kernel and synchronizes (read-only mapping checks).
/// @throws std::runtime_error with the CUDA error when the write faults
void write_byte(unsigned char* p);
}  // namespace onecopy::kernels::cuda_k
