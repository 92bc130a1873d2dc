// SPDX-License-Identifier: Apache-2.0
// Element types a segment's tensors can hold (the safetensors and numpy sets).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace onecopy {

/// Element type of a tensor. Values are stored in segment files: never renumber.
enum class dtype : std::uint16_t {
  u8 = 1, i8 = 2, u16 = 3, i16 = 4, u32 = 5, i32 = 6, u64 = 7, i64 = 8,
  f16 = 9, bf16 = 10, f32 = 11, f64 = 12, boolean = 13,
  f8_e4m3 = 14, f8_e5m2 = 15, f8_e8m0 = 16, c64 = 17, c128 = 18,
  f8_e4m3fnuz = 19, f8_e5m2fnuz = 20,
};

/// Bytes per element.
[[nodiscard]] std::size_t dtype_size(dtype t) noexcept;
/// Short lowercase name: "f32", "bf16", "bool", "f8_e4m3".
[[nodiscard]] std::string_view dtype_name(dtype t) noexcept;
/// True when the numeric value names a known dtype (used when validating files).
[[nodiscard]] bool dtype_known(std::uint16_t value) noexcept;
/// Parses "f32", "float32", "F32" (safetensors), "uint8", "bool", "bf16", "F8_E4M3".
/// @return std::nullopt for an unknown name
[[nodiscard]] std::optional<dtype> parse_dtype(std::string_view text) noexcept;

}  // namespace onecopy
