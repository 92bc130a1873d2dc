// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: segment-header validation (onecopy::parse_segment) on arbitrary bytes.
// The header digest is recomputed over the mutated bytes first — as a writer would — so the
// fuzzer reaches every field check and the accept path, not just "checksum mismatch".
// Accepted input must keep every table entry inside the file (else: trap).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <xxhash.h>

#include "onecopy/engine/segment_info.hpp"
#include "onecopy/error.hpp"

namespace {

// Where segment_info.cpp keeps these (format v1, design §3).
constexpr std::size_t data_offset_field = 24;
constexpr std::size_t digest_field = 4088;

std::uint64_t load64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);  // x86-64 and the format are little-endian
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace onecopy;
  std::vector<std::uint8_t> file(data, data + size);
  if (size >= segment_header_size) {
    const std::uint64_t data_offset = load64(file.data() + data_offset_field);
    if (data_offset >= segment_header_size && data_offset <= size) {
      XXH3_state_t* state = XXH3_createState();
      XXH3_64bits_reset(state);
      XXH3_64bits_update(state, file.data(), digest_field);
      XXH3_64bits_update(state, file.data() + segment_header_size, data_offset - segment_header_size);
      const std::uint64_t digest = XXH3_64bits_digest(state);
      XXH3_freeState(state);
      std::memcpy(file.data() + digest_field, &digest, 8);
    }
  }
  segment_info info;
  try {
    info = parse_segment({reinterpret_cast<const std::byte*>(file.data()), size}, size, "fuzz-segment");
  } catch (const format_error&) {
    return 0;
  }
  if (info.data_offset > size || info.data_size > size - info.data_offset) __builtin_trap();
  if (info.tensors.empty()) __builtin_trap();
  for (const auto& t : info.tensors) {
    if (t.offset > info.data_size || t.size > info.data_size - t.offset) __builtin_trap();
    if (t.shape.size() > max_rank || t.name.size() > max_tensor_name) __builtin_trap();
  }
  return 0;
}
