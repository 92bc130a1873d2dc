// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the safetensors parser on arbitrary bytes. Malformed input must end in a
// format_error; accepted input must satisfy what the loader relies on (else: trap).
#include <cstddef>
#include <cstdint>

#include "onecopy/engine/formats/safetensors.hpp"
#include "onecopy/engine/layout.hpp"
#include "onecopy/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace onecopy;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  formats::tensor_file file;
  try {
    file = formats::parse_safetensors(bytes, size, "fuzz.safetensors");
  } catch (const format_error&) {
    return 0;
  }
  // The tensors tile the data region in order, each inside the file, sized dtype × shape.
  std::uint64_t at = file.header_size;
  std::vector<tensor_spec> specs;
  for (const auto& t : file.tensors) {
    if (t.file_offset != at || t.size > size - t.file_offset) __builtin_trap();
    if (t.size != tensor_bytes(t.name, t.type, t.shape)) __builtin_trap();
    at += t.size;
    specs.push_back({t.name, t.type, t.shape});
  }
  if (at != size) __builtin_trap();
  // What the parser accepted, a bundle layout accepts too (names, ranks, sizes).
  if (!specs.empty()) (void)layout::bundle(specs);
  return 0;
}
