// SPDX-License-Identifier: Apache-2.0
// A non-owning, read-only view of one tensor inside an attached segment. Trivially copyable;
// valid while the segment it came from is alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "onecopy/engine/dtype.hpp"
#include "onecopy/error.hpp"

namespace onecopy {

struct tensor_view {
  std::string_view name;               ///< "" for a single array
  dtype type = dtype::u8;
  std::span<const std::uint64_t> shape;
  std::span<const std::byte> bytes;    ///< the tensor's bytes in the mapping

  /// Number of elements (1 for a 0-d tensor).
  [[nodiscard]] std::uint64_t element_count() const noexcept {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  /// C-order strides in bytes, one per dimension.
  [[nodiscard]] std::vector<std::int64_t> strides() const {
    std::vector<std::int64_t> s(shape.size());
    std::int64_t step = static_cast<std::int64_t>(dtype_size(type));
    for (std::size_t i = shape.size(); i-- > 0;) {
      s[i] = step;
      step *= static_cast<std::int64_t>(shape[i]);
    }
    return s;
  }
  /// The elements as T. @throws usage_error when sizeof(T) differs from the dtype's size
  template <class T>
  [[nodiscard]] std::span<const T> as() const {
    if (sizeof(T) != dtype_size(type))
      throw usage_error("tensor_view::as: element size " + std::to_string(sizeof(T)) +
                        " does not match dtype " + std::string(dtype_name(type)));
    return {reinterpret_cast<const T*>(bytes.data()), bytes.size() / sizeof(T)};
  }
};

}  // namespace onecopy
