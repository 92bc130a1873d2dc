// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the .npy parser on arbitrary bytes. Malformed input must end in a
// format_error; accepted input must describe exactly the bytes after the header (else: trap).
#include <cstddef>
#include <cstdint>

#include "onecopy/engine/formats/npy.hpp"
#include "onecopy/engine/layout.hpp"
#include "onecopy/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace onecopy;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  formats::tensor_file file;
  try {
    file = formats::parse_npy(bytes, size, "fuzz.npy");
  } catch (const format_error&) {
    return 0;
  }
  if (file.tensors.size() != 1) __builtin_trap();
  const auto& t = file.tensors.front();
  if (t.file_offset != file.header_size || t.file_offset + t.size != size) __builtin_trap();
  if (t.shape.size() > max_rank || t.size != tensor_bytes("", t.type, t.shape)) __builtin_trap();
  (void)layout::array(t.type, t.shape);
  return 0;
}
