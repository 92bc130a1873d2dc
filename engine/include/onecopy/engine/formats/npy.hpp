// SPDX-License-Identifier: Apache-2.0
// The .npy parser: magic "\x93NUMPY", version 1.0/2.0/3.0, a header length (u16 or u32 LE), a
// Python-literal dict {'descr': …, 'fortran_order': …, 'shape': (…)}, then the array's bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "onecopy/engine/formats/tensor_file.hpp"

namespace onecopy::formats {

/// Largest .npy header dict accepted (bytes). numpy writes < 1 KiB for any array onecopy can
/// hold (structured dtypes, which need more, are rejected anyway).
inline constexpr std::uint64_t max_npy_header = 1 << 20;

/// How many bytes at the start of the file hold the header (magic, version, length, dict),
/// after checking the magic, the version and the length against max_npy_header and file_size.
/// @param first the file's first bytes (at least 12 unless the file is shorter)
/// @throws format_error "<source>: <field>: …"
[[nodiscard]] std::uint64_t npy_header_extent(std::span<const std::byte> first,
                                              std::uint64_t file_size, std::string_view source);

/// Parses and validates a .npy header. Accepts descr of bool, (u)int 8-64, float 16/32/64 and
/// complex 64/128 in either byte order ('<', '>', '|', '='; big-endian is swapped on load),
/// C or Fortran order (Fortran is transposed on load); rejects structured, object, string,
/// datetime and long-double dtypes, ranks over max_rank, and a data size other than
/// dtype × shape (the file must end right after the data).
/// @param head the file's first bytes: at least npy_header_extent() of them
/// @return one unnamed tensor
/// @throws format_error "<source>: <field>: <what>"
[[nodiscard]] tensor_file parse_npy(std::span<const std::byte> head, std::uint64_t file_size,
                                    std::string_view source);

}  // namespace onecopy::formats
