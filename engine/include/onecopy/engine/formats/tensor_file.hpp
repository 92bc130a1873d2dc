// SPDX-License-Identifier: Apache-2.0
// What a tensor file (.safetensors or .npy) holds, as its header says: each tensor's name, type,
// shape and where its bytes are in the file. Produced by the validating parsers and inspect().
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "onecopy/engine/dtype.hpp"

namespace onecopy::formats {

/// The file formats onecopy reads tensors from.
enum class file_format {
  safetensors,  ///< 8-byte LE header length, JSON header, data (huggingface/safetensors)
  npy,          ///< NumPy's .npy, versions 1.0, 2.0 and 3.0 (one array per file)
};
/// "safetensors", "npy".
[[nodiscard]] std::string_view to_string(file_format f) noexcept;

/// One tensor as a file stores it. Every field has been validated against the file's size.
struct file_tensor {
  std::string name;                   ///< safetensors key; "" for .npy (named by the loader)
  dtype type = dtype::u8;
  std::vector<std::uint64_t> shape;   ///< C-order shape, as it will be in a segment
  std::uint64_t file_offset = 0;      ///< of the first byte, from the start of the file
  std::uint64_t size = 0;             ///< bytes = product(shape) × dtype_size(type)
  bool fortran_order = false;  ///< .npy stored column-major: the loader transposes it
  bool byte_swapped = false;   ///< .npy stored big-endian: the loader swaps it to little-endian
};

/// A parsed tensor file.
struct tensor_file {
  std::filesystem::path path;  ///< as given to inspect() (the source name for parse_*())
  file_format format = file_format::safetensors;
  std::string version;          ///< npy: "1.0", "2.0" or "3.0"; safetensors: ""
  std::uint64_t file_size = 0;
  std::uint64_t header_size = 0;  ///< bytes before the data region
  std::vector<file_tensor> tensors;  ///< in file-offset order (safetensors: as laid out)
  std::string metadata;  ///< safetensors `__metadata__` as compact JSON text; "" when absent
};

/// Opens path, reads and validates its header (only the header) and returns its tensors.
/// The format comes from the extension (.safetensors, .npy) or, failing that, the content.
/// @throws os_error naming path when it cannot be opened or read; format_error
///         "<path>: <tensor>: <field>: <what>" when it is not a valid file of either format
[[nodiscard]] tensor_file inspect(const std::filesystem::path& path);

}  // namespace onecopy::formats
