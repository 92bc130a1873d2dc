// SPDX-License-Identifier: Apache-2.0
// The safetensors parser: an 8-byte little-endian header length N, N bytes of JSON (parsed by
// nlohmann::json), then the data region. Strict: every length is checked before it is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "onecopy/engine/formats/tensor_file.hpp"

namespace onecopy::formats {

/// Largest JSON header accepted (bytes), the limit of the reference implementation.
inline constexpr std::uint64_t max_safetensors_header = 100'000'000;

/// How many bytes at the start of the file hold the header (8 + N), after checking N against
/// max_safetensors_header and file_size.
/// @param first the file's first bytes (at least 8 unless the file is shorter)
/// @throws format_error "<source>: header length: …" when the file is too short or N too large
[[nodiscard]] std::uint64_t safetensors_header_extent(std::span<const std::byte> first,
                                                      std::uint64_t file_size,
                                                      std::string_view source);

/// Parses and validates a safetensors header. Checks: UTF-8 JSON object; no duplicate keys;
/// `__metadata__` an object of strings; each tensor has a known dtype, a shape of at most
/// max_rank non-negative integers and data_offsets [begin, end] with end − begin equal to
/// dtype × shape; names non-empty, at most max_tensor_name bytes, no NUL; the tensors tile the
/// data region exactly (no overlap, no gap, nothing past the end of the file).
/// @param head the file's first bytes: at least safetensors_header_extent() of them
/// @param file_size the file's size (fstat)
/// @param source the path used in messages
/// @return tensors sorted by file offset, metadata as compact JSON
/// @throws format_error "<source>: tensor '<name>': <field>: <what>" (or "<source>: <field>: …")
[[nodiscard]] tensor_file parse_safetensors(std::span<const std::byte> head, std::uint64_t file_size,
                                            std::string_view source);

}  // namespace onecopy::formats
