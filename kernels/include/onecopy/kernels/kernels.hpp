// SPDX-License-Identifier: Apache-2.0
// onecopy's kernels, one Thrust source run three ways: serially, on OpenMP threads, or on a
// GPU. Checksum (equal to the segment checksum), sum/min/max per dtype, row gather (embedding
// lookup) and compare. Every function takes read-only inputs; memory must be readable by the
// chosen backend (host memory for serial/openmp; device memory, a registered host mapping's
// device pointer or managed memory for cuda).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

#include "onecopy/engine/dtype.hpp"
#include "onecopy/engine/tensor_view.hpp"

namespace onecopy::kernels {

/// Where a kernel runs.
enum class backend {
  serial,  ///< Thrust's CPP system: one thread, the reference the others are tested against
  openmp,  ///< Thrust's OMP system: all CPUs (OMP_NUM_THREADS)
  cuda,    ///< Thrust's CUDA system: the current CUDA device (built only with ONECOPY_CUDA)
};
/// "serial", "openmp", "cuda".
[[nodiscard]] std::string_view to_string(backend b) noexcept;
/// True for serial and openmp; for cuda when built with CUDA and gpu::probe() found a device.
[[nodiscard]] bool available(backend b) noexcept;

/// The segment checksum (chunked xxh3-64, see onecopy/engine/checksum.hpp) of data, computed
/// by the backend: the same value segment_checksum() and the segment header hold.
/// @throws usage_error when data is not 8-byte aligned; gpu_error when cuda is not available
///         or a CUDA call fails
[[nodiscard]] std::uint64_t checksum(backend b, std::span<const std::byte> data);

/// A reduction's value: integers exactly (signed or unsigned), floats as double.
/// std::monostate for min/max of zero elements (or of only NaNs).
using scalar = std::variant<std::monostate, std::int64_t, std::uint64_t, double>;

/// Sum, min and max of a tensor's elements.
struct reduction {
  dtype type = dtype::u8;
  std::uint64_t count = 0;      ///< elements read
  std::uint64_t nan_count = 0;  ///< NaN elements (floating types); min/max skip them
  scalar sum;  ///< integers: exact modulo 2^64 (int64 wraps like two's complement); floats: in double
  scalar min;
  scalar max;
};
/// The value as a double (NaN for monostate).
[[nodiscard]] double to_double(const scalar& s) noexcept;

/// Sum, min and max of the elements of type t in data. bool reads as u8; f16 and bf16 are
/// decoded from their bits. Float sums run in double in an order that depends on the backend.
/// @throws usage_error for f8/complex dtypes, a size that is not a whole number of elements, or
///         data not aligned to the element size; gpu_error as checksum()
[[nodiscard]] reduction reduce(backend b, dtype t, std::span<const std::byte> data);
/// reduce(b, view.type, view.bytes).
[[nodiscard]] reduction reduce(backend b, const tensor_view& view);

/// Embedding lookup: row k of out = row indices[k] of table (rows of row_bytes bytes).
/// pre: out.size() == indices.size() * row_bytes
/// @throws usage_error when an index is outside the table (naming its position and value; out
///         is then untouched), when sizes do not fit, or when row_bytes is 0; gpu_error as checksum()
void gather_rows(backend b, std::span<const std::byte> table, std::uint64_t row_bytes,
                 std::span<const std::int64_t> indices, std::span<std::byte> out);
/// The same with 32-bit indices.
void gather_rows(backend b, std::span<const std::byte> table, std::uint64_t row_bytes,
                 std::span<const std::int32_t> indices, std::span<std::byte> out);

/// How two byte ranges compare.
struct comparison {
  bool equal = true;
  std::optional<std::uint64_t> first_mismatch;  ///< byte offset of the first difference
  std::uint64_t differing_words = 0;            ///< 8-byte words that differ
};
/// Compares data with host (for cuda: data is device memory, host is any host memory; an
/// unregistered host range is staged through the device in chunks).
/// @throws usage_error when the sizes differ; gpu_error as checksum()
[[nodiscard]] comparison compare(backend b, std::span<const std::byte> data, std::span<const std::byte> host);

}  // namespace onecopy::kernels
