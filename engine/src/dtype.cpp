// SPDX-License-Identifier: Apache-2.0
#include "onecopy/engine/dtype.hpp"

#include <array>
#include <cctype>
#include <string>

namespace onecopy {
namespace {

struct dtype_row {
  dtype type;
  std::size_t size;
  std::string_view name;
  std::string_view aliases[3];
};

constexpr std::array<dtype_row, 20> rows{{
    {dtype::u8, 1, "u8", {"uint8", "", ""}},
    {dtype::i8, 1, "i8", {"int8", "", ""}},
    {dtype::u16, 2, "u16", {"uint16", "", ""}},
    {dtype::i16, 2, "i16", {"int16", "", ""}},
    {dtype::u32, 4, "u32", {"uint32", "", ""}},
    {dtype::i32, 4, "i32", {"int32", "", ""}},
    {dtype::u64, 8, "u64", {"uint64", "", ""}},
    {dtype::i64, 8, "i64", {"int64", "", ""}},
    {dtype::f16, 2, "f16", {"float16", "half", ""}},
    {dtype::bf16, 2, "bf16", {"bfloat16", "", ""}},
    {dtype::f32, 4, "f32", {"float32", "float", ""}},
    {dtype::f64, 8, "f64", {"float64", "double", ""}},
    {dtype::boolean, 1, "bool", {"b1", "", ""}},
    {dtype::f8_e4m3, 1, "f8_e4m3", {"float8_e4m3fn", "f8_e4m3fn", ""}},
    {dtype::f8_e5m2, 1, "f8_e5m2", {"float8_e5m2", "", ""}},
    {dtype::f8_e8m0, 1, "f8_e8m0", {"float8_e8m0fnu", "f8_e8m0fnu", ""}},
    {dtype::c64, 8, "c64", {"complex64", "", ""}},
    {dtype::c128, 16, "c128", {"complex128", "", ""}},
    {dtype::f8_e4m3fnuz, 1, "f8_e4m3fnuz", {"float8_e4m3fnuz", "", ""}},
    {dtype::f8_e5m2fnuz, 1, "f8_e5m2fnuz", {"float8_e5m2fnuz", "", ""}},
}};

const dtype_row* row_of(dtype t) noexcept {
  for (const auto& r : rows)
    if (r.type == t) return &r;
  return nullptr;
}

}  // namespace

std::size_t dtype_size(dtype t) noexcept {
  const auto* r = row_of(t);
  return r ? r->size : 0;
}

std::string_view dtype_name(dtype t) noexcept {
  const auto* r = row_of(t);
  return r ? r->name : std::string_view("unknown");
}

bool dtype_known(std::uint16_t value) noexcept {
  return row_of(static_cast<dtype>(value)) != nullptr;
}

std::optional<dtype> parse_dtype(std::string_view text) noexcept {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& r : rows) {
    if (lower == r.name) return r.type;
    for (auto alias : r.aliases)
      if (!alias.empty() && lower == alias) return r.type;
  }
  return std::nullopt;
}

}  // namespace onecopy
