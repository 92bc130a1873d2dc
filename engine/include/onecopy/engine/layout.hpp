// SPDX-License-Identifier: Apache-2.0
// What a segment will hold: one array, or a bundle of named tensors, with their byte offsets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "onecopy/engine/dtype.hpp"

namespace onecopy {

/// Longest tensor name a segment stores (bytes).
inline constexpr std::size_t max_tensor_name = 255;
/// Highest rank a segment stores.
inline constexpr std::size_t max_rank = 16;
/// Largest data size a segment holds (bytes): its file, header region and page rounding
/// included, must stay within a file offset (a signed 64-bit number).
inline constexpr std::uint64_t max_segment_data = std::uint64_t{1} << 62;
/// Tensors in a bundle start at multiples of this (bytes) at least.
inline constexpr std::uint64_t tensor_alignment = 64;

/// One tensor to be laid out: its name (empty for a single array), type and shape.
struct tensor_spec {
  std::string name;
  dtype type = dtype::u8;
  std::vector<std::uint64_t> shape;  ///< empty = 0-d scalar
};

/// A tensor placed in the data region.
struct tensor_entry {
  std::string name;
  dtype type = dtype::u8;
  std::vector<std::uint64_t> shape;
  std::uint64_t offset = 0;  ///< from the start of the data region
  std::uint64_t size = 0;    ///< bytes = product(shape) × dtype_size
};

/// The data region's table of tensors. Built by array(), bytes() or bundle(); immutable.
class layout {
 public:
  /// One unnamed array.
  /// @throws usage_error when the rank exceeds max_rank or the byte size overflows
  [[nodiscard]] static layout array(dtype type, std::vector<std::uint64_t> shape);
  /// size raw bytes (dtype u8, shape {size}).
  [[nodiscard]] static layout bytes(std::uint64_t size);
  /// Named tensors in the given order, each at a multiple of alignment (≥ 64, power of two).
  /// @throws usage_error on an empty or duplicate name, a name over max_tensor_name bytes,
  ///         a rank over max_rank, or a size that overflows
  [[nodiscard]] static layout bundle(const std::vector<tensor_spec>& tensors,
                                     std::uint64_t alignment = tensor_alignment);

  [[nodiscard]] const std::vector<tensor_entry>& tensors() const noexcept { return tensors_; }
  [[nodiscard]] std::uint64_t data_size() const noexcept { return data_size_; }
  [[nodiscard]] bool is_bundle() const noexcept { return bundle_; }
  /// The entry named name, or nullptr.
  [[nodiscard]] const tensor_entry* find(std::string_view name) const noexcept;

 private:
  std::vector<tensor_entry> tensors_;
  std::uint64_t data_size_ = 0;
  bool bundle_ = false;
};

/// Bytes of a tensor of this type and shape.
/// @throws usage_error naming the tensor when the product overflows 64 bits
[[nodiscard]] std::uint64_t tensor_bytes(std::string_view name, dtype type,
                                         const std::vector<std::uint64_t>& shape);

}  // namespace onecopy
