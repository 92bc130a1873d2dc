// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: segment-header validation on arbitrary bytes, read as a whole file three
// ways: format v2 with the header region at the file's end (onecopy::parse_segment), the same
// bytes as a v2 companion file, and format v1 (onecopy::parse_segment_v1). The header digest is
// recomputed over the mutated bytes first — as a writer would — so the fuzzer reaches every
// field check and the accept path, not just "checksum mismatch". Accepted input must keep the
// data and every tensor inside the file (else: trap).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include <xxhash.h>

#include "onecopy/engine/segment_info.hpp"
#include "onecopy/error.hpp"

namespace {

// Where segment_info.cpp keeps these (design §3, docs/how-it-works.md).
constexpr std::size_t v1_data_offset_field = 24;
constexpr std::size_t digest_field = 4088;  // in the fixed header, v1 and v2

std::uint64_t load64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);  // x86-64 and the format are little-endian
  return v;
}

void check(const onecopy::segment_info& info, std::uint64_t data_limit) {
  if (info.data_size > data_limit) __builtin_trap();
  if (info.tensors.empty()) __builtin_trap();
  for (const auto& t : info.tensors) {
    if (t.offset > info.data_size || t.size > info.data_size - t.offset) __builtin_trap();
    if (t.shape.size() > onecopy::max_rank || t.name.size() > onecopy::max_tensor_name) __builtin_trap();
  }
}

// v2: the region is the file's last region_size bytes (the whole file when that does not fit).
void fuzz_v2(std::vector<std::uint8_t> file) {
  using namespace onecopy;
  const std::size_t size = file.size();
  if (size < segment_header_size) return;
  const auto* bytes = reinterpret_cast<const std::byte*>(file.data());
  const region_claim claim = claim_of({bytes + size - segment_header_size, segment_header_size});
  const std::size_t region = claim.region_size >= segment_header_size && claim.region_size <= size
                                 ? static_cast<std::size_t>(claim.region_size) : size;
  std::uint8_t* start = file.data() + size - region;
  const std::uint64_t digest = XXH3_64bits(start, region - 8);
  std::memcpy(file.data() + size - 8, &digest, 8);
  const std::span<const std::byte> r{reinterpret_cast<const std::byte*>(start), region};
  try {
    check(parse_segment(r, size, false, "fuzz-segment"), size - region);
  } catch (const format_error&) {
  }
  try {
    const segment_info info = parse_segment({bytes, size}, claim.file_size, true, "fuzz-companion");
    check(info, claim.file_size);
  } catch (const format_error&) {
  }
}

void fuzz_v1(std::vector<std::uint8_t> file) {
  using namespace onecopy;
  const std::size_t size = file.size();
  if (size >= segment_header_size) {
    const std::uint64_t data_offset = load64(file.data() + v1_data_offset_field);
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
  try {
    const segment_info info = parse_segment_v1({reinterpret_cast<const std::byte*>(file.data()), size}, size, "fuzz-v1");
    if (info.data_offset > size) __builtin_trap();
    check(info, size - info.data_offset);
  } catch (const format_error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::uint8_t> file(data, data + size);
  fuzz_v2(file);
  fuzz_v1(file);
  return 0;
}
