// SPDX-License-Identifier: Apache-2.0
// Segment format v2 (and v1, read only): encoding and validating decoding. Field offsets are
// fixed here and only here; every field read from a file is checked before it is used.
//
// v2: the data starts the file (offset 0: on a page boundary of any page size), and the header
// region follows it at the file's end: tensor table, metadata, zero padding, then the fixed
// 4 KiB header, so a reader finds it from the file's size alone. On filesystems of 1 GiB pages
// the region is a companion file instead (header_in_companion), so an array of exactly N GiB
// takes N pages. v1: fixed header at offset 0, table, metadata, data at a 4 KiB multiple.
#include "onecopy/engine/segment_info.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <set>

#include <fmt/format.h>
// Inlined (like the data checksum): the header digest runs on every attach, and the shared
// library's streaming hash took 0.45 us of its ~8 us for an 8 KiB header.
#define XXH_INLINE_ALL  // also gives XXH3_state_t on the stack
#include <xxhash.h>

#include "onecopy/engine/checksum.hpp"
#include "onecopy/error.hpp"
#include "onecopy/units.hpp"

namespace onecopy {
namespace {

// Fixed-header field offsets (bytes from the header's start; v1 and v2 alike unless noted).
namespace off {
constexpr std::size_t magic = 0;             // char[8] "ONECOPY\0"
constexpr std::size_t version = 8;           // u32
constexpr std::size_t header_size = 12;      // u32
constexpr std::size_t file_size = 16;        // u64, of the data file
constexpr std::size_t data_offset = 24;      // u64 (v2: 0)
constexpr std::size_t data_size = 32;        // u64
constexpr std::size_t tensor_count = 40;     // u32
constexpr std::size_t flags = 44;            // u32
constexpr std::size_t table_offset = 48;     // u64 (v1: from the file's start; v2: the region's)
constexpr std::size_t table_size = 56;       // u64
constexpr std::size_t metadata_offset = 64;  // u64 (as table_offset)
constexpr std::size_t metadata_size = 72;    // u64
constexpr std::size_t checksum_algorithm = 80;  // u32
constexpr std::size_t checksum_chunk_log2 = 84; // u32
constexpr std::size_t checksum = 88;         // u64
constexpr std::size_t page_size = 96;        // u64
constexpr std::size_t huge_bytes = 104;      // u64
constexpr std::size_t backing = 112;         // u32
constexpr std::size_t policy = 116;          // u32
constexpr std::size_t node_mask = 120;       // 16 × u64 (nodes 0-1023)
constexpr std::size_t histogram_count = 248; // u32
constexpr std::size_t histogram = 256;       // 64 × {u32 node, u32 0, u64 pages}
constexpr std::size_t creator_pid = 1280;    // i32
constexpr std::size_t creator_uid = 1284;    // u32
constexpr std::size_t created_ns = 1288;     // i64
constexpr std::size_t creator_host = 1296;   // char[64], NUL-terminated
constexpr std::size_t region_size = 1360;    // u64, v2: table + metadata + padding + this header
constexpr std::size_t data_device = 1368;    // u64, v2 companion: st_dev of the data file
constexpr std::size_t data_inode = 1376;     // u64, v2 companion: st_ino of the data file
constexpr std::size_t data_file = 1384;      // char[256], v2 companion: its name, NUL-terminated
constexpr std::size_t asked_policy = 1640;   // u32: 1 + the numa_policy asked for; 0 = not recorded
// v1: xxh3-64 of bytes [0, 4088) and of the table and metadata up to data_offset.
// v2: xxh3-64 of the region's bytes before this field (everything but the digest itself).
constexpr std::size_t header_checksum = 4088;  // u64
}  // namespace off

constexpr std::size_t host_field = 64;
constexpr std::size_t file_field = 256;
constexpr std::size_t mask_words = 16;
constexpr char magic_text[8] = {'O', 'N', 'E', 'C', 'O', 'P', 'Y', '\0'};
constexpr std::uint32_t flag_bundle = 1u << 0;
constexpr std::uint32_t flag_remove_when_unused = 1u << 1;
constexpr std::uint32_t flag_companion = 1u << 2;  // v2: this region is a companion file
constexpr std::uint32_t known_flags_v1 = flag_bundle | flag_remove_when_unused;
constexpr std::uint32_t known_flags = known_flags_v1 | flag_companion;
constexpr std::uint32_t chunk_log2 = 24;
static_assert((1ull << chunk_log2) == checksum_chunk_size);

// Tensor-table entry field offsets (bytes from the entry's start).
namespace ent {
constexpr std::size_t dtype = 0;     // u16
constexpr std::size_t rank = 2;      // u16
constexpr std::size_t name_len = 4;  // u16
constexpr std::size_t offset = 8;    // u64, from the data region's start
constexpr std::size_t size = 16;     // u64
constexpr std::size_t dims = 24;     // 16 × u64
constexpr std::size_t name = 152;    // char[256]
}  // namespace ent

template <class T>
T load(std::span<const std::byte> b, std::size_t at) {
  T v{};
  unsigned char raw[sizeof(T)];
  std::memcpy(raw, b.data() + at, sizeof(T));
  std::make_unsigned_t<T> u = 0;
  for (std::size_t i = sizeof(T); i-- > 0;) u = static_cast<std::make_unsigned_t<T>>((u << 8) | raw[i]);
  std::memcpy(&v, &u, sizeof(T));
  return v;
}

template <class T>
void store(std::span<std::byte> b, std::size_t at, T value) {
  std::make_unsigned_t<T> u;
  std::memcpy(&u, &value, sizeof(T));
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    b[at + i] = static_cast<std::byte>(u & 0xff);
    u = static_cast<std::make_unsigned_t<T>>(u >> 8);
  }
}

// "checked a + b ≤ limit" without overflow.
bool fits(std::uint64_t offset, std::uint64_t size, std::uint64_t limit) {
  return offset <= limit && size <= limit - offset;
}

// v1: everything before the data except the digest itself: header, table and metadata.
std::uint64_t header_digest_v1(std::span<const std::byte> file, std::uint64_t data_offset) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, file.data(), off::header_checksum);
  XXH3_64bits_update(&state, file.data() + segment_header_size, data_offset - segment_header_size);
  return XXH3_64bits_digest(&state);
}

// v2: the region before its last 8 bytes (the digest): one contiguous, one-shot hash.
std::uint64_t region_digest(std::span<const std::byte> region) {
  return XXH3_64bits(region.data(), region.size() - 8);
}

using complaint = std::function<format_error(std::string_view, const std::string&)>;

// A NUL-terminated text field of at most width bytes (NUL included).
std::string text_field(std::span<const std::byte> h, std::size_t at, std::size_t width, std::string_view field,
                       const complaint& bad) {
  const char* text = reinterpret_cast<const char*>(h.data() + at);
  const std::size_t len = strnlen(text, width);
  if (len == width) throw bad(field, "not NUL-terminated");
  return {text, len};
}

// The fixed header's fields that v1 and v2 share and that need nothing else to be checked.
// Layout (offsets, sizes, flags, digest) is each version's own.
void decode_common(std::span<const std::byte> h, segment_info& info, const complaint& bad) {
  const auto header_size = load<std::uint32_t>(h, off::header_size);
  if (header_size != segment_header_size)
    throw bad("header_size", fmt::format("{} (expected {})", header_size, segment_header_size));
  const auto algorithm = load<std::uint32_t>(h, off::checksum_algorithm);
  if (algorithm != checksum_algorithm_xxh3_chunked)
    throw bad("checksum_algorithm", fmt::format("{} is unknown (1 = chunked xxh3-64)", algorithm));
  const auto log2 = load<std::uint32_t>(h, off::checksum_chunk_log2);
  if (log2 != chunk_log2) throw bad("checksum_chunk_log2", fmt::format("{} (expected {})", log2, chunk_log2));
  info.checksum = load<std::uint64_t>(h, off::checksum);
  info.page_size = load<std::uint64_t>(h, off::page_size);
  if (info.page_size < 4096 || (info.page_size & (info.page_size - 1)) != 0 || info.page_size > 16 * GiB)
    throw bad("page_size", fmt::format("{} is not a power of two between 4 KiB and 16 GiB", info.page_size));
  info.huge_bytes = load<std::uint64_t>(h, off::huge_bytes);
  if (info.huge_bytes > info.file_size)
    throw bad("huge_bytes", fmt::format("{} exceeds the file size {}", info.huge_bytes, info.file_size));
  const auto backing = load<std::uint32_t>(h, off::backing);
  if (backing > static_cast<std::uint32_t>(backing_kind::hugetlbfs))
    throw bad("backing", fmt::format("{} is not a known backing (0-3)", backing));
  info.backing = static_cast<backing_kind>(backing);
  const auto policy = load<std::uint32_t>(h, off::policy);
  if (policy > static_cast<std::uint32_t>(numa_policy::interleave))
    throw bad("policy", fmt::format("{} is not a known NUMA policy (0-2)", policy));
  info.where.policy = static_cast<numa_policy>(policy);
  for (std::size_t w = 0; w < mask_words; ++w) {
    // Visit the set bits only: testing all 1024 took most of an attach's parsing time.
    for (auto word = load<std::uint64_t>(h, off::node_mask + 8 * w); word != 0; word &= word - 1)
      info.where.nodes.push_back(static_cast<int>(w * 64) + std::countr_zero(word));
  }
  const auto hist = load<std::uint32_t>(h, off::histogram_count);
  if (hist > max_histogram_nodes)
    throw bad("histogram_count", fmt::format("{} (at most {})", hist, max_histogram_nodes));
  for (std::size_t i = 0; i < hist; ++i) {
    const auto node = load<std::uint32_t>(h, off::histogram + 16 * i);
    const auto pages = load<std::uint64_t>(h, off::histogram + 16 * i + 8);
    if (node >= 64 * mask_words)
      throw bad("histogram", fmt::format("entry {} names node {} (nodes are 0-1023)", i, node));
    info.histogram.push_back({static_cast<int>(node), pages});
  }
  info.creator_pid = load<std::int32_t>(h, off::creator_pid);
  info.creator_uid = load<std::uint32_t>(h, off::creator_uid);
  info.created_ns = load<std::int64_t>(h, off::created_ns);
  info.creator_host = text_field(h, off::creator_host, host_field, "creator_host", bad);
  // Zero in files written before it was recorded (the bytes were reserved, always zero).
  if (const auto asked = load<std::uint32_t>(h, off::asked_policy); asked != 0) {
    if (asked - 1 > static_cast<std::uint32_t>(numa_policy::automatic))
      throw bad("asked_policy", fmt::format("{} is not a known NUMA policy (0-{})", asked,
                                            static_cast<std::uint32_t>(numa_policy::automatic) + 1));
    info.asked = static_cast<numa_policy>(asked - 1);
  }
}

// Table and metadata, at offsets into base; table_limit and meta_limit bound them.
void decode_table(std::span<const std::byte> base, std::span<const std::byte> h, std::uint64_t low,
                  std::uint64_t limit, segment_info& info, const complaint& bad) {
  const auto tensor_count = load<std::uint32_t>(h, off::tensor_count);
  if (tensor_count == 0 || tensor_count > max_tensors)
    throw bad("tensor_count", fmt::format("{} (must be 1 to {})", tensor_count, max_tensors));
  const auto table_offset = load<std::uint64_t>(h, off::table_offset);
  const auto table_size = load<std::uint64_t>(h, off::table_size);
  if (table_offset < low || !fits(table_offset, table_size, limit))
    throw bad("table_offset", fmt::format("table at {} of {} bytes is not between {} and {}", table_offset,
                                          table_size, low, limit));
  if (table_size != std::uint64_t{tensor_count} * tensor_entry_size)
    throw bad("table_size", fmt::format("{} bytes for {} tensors (expected {})", table_size,
                                        tensor_count, std::uint64_t{tensor_count} * tensor_entry_size));
  const auto meta_offset = load<std::uint64_t>(h, off::metadata_offset);
  const auto meta_size = load<std::uint64_t>(h, off::metadata_size);
  if (meta_offset < table_offset + table_size || !fits(meta_offset, meta_size, limit))
    throw bad("metadata_offset", fmt::format("metadata at {} of {} bytes is not between the table's end "
                                             "and {}", meta_offset, meta_size, limit));
  info.tensors.reserve(tensor_count);
  for (std::uint32_t i = 0; i < tensor_count; ++i) {
    const std::size_t at = table_offset + i * tensor_entry_size;
    tensor_entry t;
    // Labels are built only for an error: formatting one per tensor was a cost of every attach.
    auto where = [i] { return fmt::format("tensor[{}]", i); };
    auto label = [&] { return t.name.empty() ? where() : fmt::format("{} '{}'", where(), t.name); };
    const auto type = load<std::uint16_t>(base, at + ent::dtype);
    if (!dtype_known(type)) throw bad(where() + ".dtype", fmt::format("{} is not a known dtype", type));
    t.type = static_cast<dtype>(type);
    const auto rank = load<std::uint16_t>(base, at + ent::rank);
    if (rank > max_rank) throw bad(where() + ".rank", fmt::format("{} exceeds {}", rank, max_rank));
    const auto name_len = load<std::uint16_t>(base, at + ent::name_len);
    if (name_len > max_tensor_name)
      throw bad(where() + ".name_len", fmt::format("{} exceeds {}", name_len, max_tensor_name));
    t.name.assign(reinterpret_cast<const char*>(base.data() + at + ent::name), name_len);
    if (t.name.find('\0') != std::string::npos) throw bad(where() + ".name", "contains a NUL byte");
    if (info.bundle ? name_len == 0 : (tensor_count != 1 || name_len != 0))
      throw bad(where() + ".name", info.bundle ? "a bundle tensor needs a name"
                                               : "a single array has one unnamed tensor");
    t.offset = load<std::uint64_t>(base, at + ent::offset);
    t.size = load<std::uint64_t>(base, at + ent::size);
    t.shape.reserve(rank);
    for (std::size_t d = 0; d < rank; ++d) t.shape.push_back(load<std::uint64_t>(base, at + ent::dims + 8 * d));
    std::uint64_t expected = dtype_size(t.type);
    for (auto d : t.shape) {
      if (d != 0 && expected > UINT64_MAX / d) throw bad(label() + ".dims", "element count overflows");
      expected *= d;
    }
    if (t.size != expected)
      throw bad(label() + ".size", fmt::format("{} bytes, but dtype {} × shape gives {}", t.size,
                                               dtype_name(t.type), expected));
    if (t.offset % tensor_alignment != 0)
      throw bad(label() + ".offset", fmt::format("{} is not a multiple of {}", t.offset, tensor_alignment));
    if (!fits(t.offset, t.size, info.data_size))
      throw bad(label() + ".offset", fmt::format("{} bytes at {} run past the data region ({} bytes)",
                                                 t.size, t.offset, info.data_size));
    info.tensors.push_back(std::move(t));
  }
  if (info.tensors.size() > 1) {
    std::set<std::string_view> names;
    for (std::size_t i = 0; i < info.tensors.size(); ++i)
      if (!info.tensors[i].name.empty() && !names.insert(info.tensors[i].name).second)
        throw bad(fmt::format("tensor[{}].name", i), fmt::format("duplicate name '{}'", info.tensors[i].name));
    // No two tensors may share bytes: sort by offset and compare neighbours.
    std::vector<const tensor_entry*> by_offset;
    for (const auto& t : info.tensors)
      if (t.size > 0) by_offset.push_back(&t);
    std::stable_sort(by_offset.begin(), by_offset.end(),
                     [](const tensor_entry* a, const tensor_entry* b) { return a->offset < b->offset; });
    for (std::size_t i = 1; i < by_offset.size(); ++i)
      if (by_offset[i - 1]->offset + by_offset[i - 1]->size > by_offset[i]->offset)
        throw bad(fmt::format("tensor '{}'.offset", by_offset[i]->name),
                  fmt::format("overlaps tensor '{}'", by_offset[i - 1]->name));
  }
  info.metadata.assign(reinterpret_cast<const char*>(base.data() + meta_offset), meta_size);
}

std::uint32_t decode_flags(std::span<const std::byte> h, std::uint32_t known, segment_info& info,
                           const complaint& bad) {
  const auto flags = load<std::uint32_t>(h, off::flags);
  if ((flags & ~known) != 0) throw bad("flags", fmt::format("unknown bits 0x{:x}", flags & ~known));
  info.bundle = (flags & flag_bundle) != 0;
  info.remove_when_unused = (flags & flag_remove_when_unused) != 0;
  return flags;
}

complaint complaint_for(std::string_view source) {
  return [source](std::string_view field, const std::string& what) {
    return format_error(fmt::format("{}: {}: {}", source, field, what));
  };
}

}  // namespace

std::string_view to_string(backing_kind k) noexcept {
  switch (k) {
    case backing_kind::directory: return "directory";
    case backing_kind::shm: return "shm";
    case backing_kind::thp: return "thp";
    case backing_kind::hugetlbfs: return "hugetlbfs";
  }
  return "unknown";
}

segment_info plan_segment_file(const layout& l, std::string metadata) {
  segment_info info;
  info.bundle = l.is_bundle();
  info.tensors = l.tensors();
  info.data_size = l.data_size();
  info.metadata = std::move(metadata);
  info.data_offset = 0;
  const std::uint64_t table_size = info.tensors.size() * tensor_entry_size;
  info.region_size = round_up(table_size + info.metadata.size() + segment_header_size, 4096);
  return info;
}

std::uint64_t segment_file_size(const segment_info& info, std::uint64_t granule) {
  const std::uint64_t data = round_up(info.data_size, 4096);
  return round_up(info.in_companion ? data : data + info.region_size, granule);
}

region_claim claim_of(std::span<const std::byte> header) noexcept {
  region_claim c;
  if (header.size() < off::version + 4) return c;
  c.magic = std::memcmp(header.data() + off::magic, magic_text, sizeof magic_text) == 0;
  c.version = load<std::uint32_t>(header, off::version);
  if (header.size() < segment_header_size) return c;
  c.region_size = load<std::uint64_t>(header, off::region_size);
  c.file_size = load<std::uint64_t>(header, off::file_size);
  return c;
}

void write_segment_header(std::span<std::byte> region, const segment_info& info) {
  std::fill(region.begin(), region.end(), std::byte{0});
  const std::span<std::byte> header = region.last(segment_header_size);
  std::memcpy(header.data() + off::magic, magic_text, sizeof magic_text);
  store<std::uint32_t>(header, off::version, segment_format_version);
  store<std::uint32_t>(header, off::header_size, static_cast<std::uint32_t>(segment_header_size));
  store<std::uint64_t>(header, off::file_size, info.file_size);
  store<std::uint64_t>(header, off::data_offset, 0);
  store<std::uint64_t>(header, off::data_size, info.data_size);
  store<std::uint32_t>(header, off::tensor_count, static_cast<std::uint32_t>(info.tensors.size()));
  std::uint32_t flags = 0;
  if (info.bundle) flags |= flag_bundle;
  if (info.remove_when_unused) flags |= flag_remove_when_unused;
  if (info.in_companion) flags |= flag_companion;
  store<std::uint32_t>(header, off::flags, flags);
  const std::uint64_t table_size = info.tensors.size() * tensor_entry_size;
  store<std::uint64_t>(header, off::table_offset, 0);
  store<std::uint64_t>(header, off::table_size, table_size);
  store<std::uint64_t>(header, off::metadata_offset, table_size);
  store<std::uint64_t>(header, off::metadata_size, info.metadata.size());
  store<std::uint32_t>(header, off::checksum_algorithm, checksum_algorithm_xxh3_chunked);
  store<std::uint32_t>(header, off::checksum_chunk_log2, chunk_log2);
  store<std::uint64_t>(header, off::checksum, info.checksum);
  store<std::uint64_t>(header, off::page_size, info.page_size);
  store<std::uint64_t>(header, off::huge_bytes, info.huge_bytes);
  store<std::uint32_t>(header, off::backing, static_cast<std::uint32_t>(info.backing));
  store<std::uint32_t>(header, off::policy, static_cast<std::uint32_t>(info.where.policy));
  std::uint64_t mask[mask_words] = {};
  for (int n : info.where.nodes)
    if (n >= 0 && n < 64 * static_cast<int>(mask_words))
      mask[n / 64] |= 1ull << (n % 64);
  for (std::size_t w = 0; w < mask_words; ++w) store<std::uint64_t>(header, off::node_mask + 8 * w, mask[w]);
  const std::size_t hist = std::min(info.histogram.size(), max_histogram_nodes);
  store<std::uint32_t>(header, off::histogram_count, static_cast<std::uint32_t>(hist));
  for (std::size_t i = 0; i < hist; ++i) {
    store<std::uint32_t>(header, off::histogram + 16 * i, static_cast<std::uint32_t>(info.histogram[i].node));
    store<std::uint64_t>(header, off::histogram + 16 * i + 8, info.histogram[i].pages);
  }
  store<std::int32_t>(header, off::creator_pid, info.creator_pid);
  store<std::uint32_t>(header, off::creator_uid, info.creator_uid);
  store<std::int64_t>(header, off::created_ns, info.created_ns);
  std::memcpy(header.data() + off::creator_host, info.creator_host.data(),
              std::min(info.creator_host.size(), host_field - 1));
  store<std::uint64_t>(header, off::region_size, info.region_size);
  if (info.in_companion) {
    store<std::uint64_t>(header, off::data_device, info.data_device);
    store<std::uint64_t>(header, off::data_inode, info.data_inode);
    std::memcpy(header.data() + off::data_file, info.data_file.data(), std::min(info.data_file.size(), file_field - 1));
  }
  store<std::uint32_t>(header, off::asked_policy, info.asked ? static_cast<std::uint32_t>(*info.asked) + 1 : 0);
  for (std::size_t i = 0; i < info.tensors.size(); ++i) {
    const auto& t = info.tensors[i];
    const std::size_t at = i * tensor_entry_size;
    store<std::uint16_t>(region, at + ent::dtype, static_cast<std::uint16_t>(t.type));
    store<std::uint16_t>(region, at + ent::rank, static_cast<std::uint16_t>(t.shape.size()));
    store<std::uint16_t>(region, at + ent::name_len, static_cast<std::uint16_t>(t.name.size()));
    store<std::uint64_t>(region, at + ent::offset, t.offset);
    store<std::uint64_t>(region, at + ent::size, t.size);
    for (std::size_t d = 0; d < t.shape.size(); ++d)
      store<std::uint64_t>(region, at + ent::dims + 8 * d, t.shape[d]);
    std::memcpy(region.data() + at + ent::name, t.name.data(), t.name.size());
  }
  std::memcpy(region.data() + table_size, info.metadata.data(), info.metadata.size());
  store<std::uint64_t>(header, off::header_checksum, region_digest(region));
}

segment_info parse_segment(std::span<const std::byte> region, std::uint64_t file_size, bool in_companion,
                           std::string_view source) {
  const complaint bad = complaint_for(source);
  if (region.size() < segment_header_size)
    throw bad(in_companion ? "companion size" : "file size",
              fmt::format("{} bytes is smaller than the {}-byte header (truncated?)", region.size(),
                          segment_header_size));
  const std::span<const std::byte> h = region.last(segment_header_size);
  if (std::memcmp(h.data() + off::magic, magic_text, sizeof magic_text) != 0)
    throw bad("magic", "not a onecopy segment header (expected \"ONECOPY\\0\")");
  segment_info info;
  info.version = load<std::uint32_t>(h, off::version);
  if (info.version != segment_format_version)
    throw bad("version", fmt::format("format version {} is not supported (this build reads 1 and {})",
                                     info.version, segment_format_version));
  info.region_size = load<std::uint64_t>(h, off::region_size);
  if (info.region_size != region.size() || info.region_size % 4096 != 0)
    throw bad("region_size", fmt::format("{} bytes, but the header region {} has {}", info.region_size,
                                         in_companion ? "file" : "found", region.size()));
  info.file_size = load<std::uint64_t>(h, off::file_size);
  if (info.file_size != file_size)
    throw bad("file_size", fmt::format("header says {} bytes but the data file has {} (truncated?)",
                                       info.file_size, file_size));
  info.data_offset = load<std::uint64_t>(h, off::data_offset);
  if (info.data_offset != 0) throw bad("data_offset", fmt::format("{} (v2 data starts the file at 0)", info.data_offset));
  const std::uint64_t data_end = in_companion ? file_size : file_size - std::min(file_size, info.region_size);
  info.data_size = load<std::uint64_t>(h, off::data_size);
  if (info.data_size > data_end)
    throw bad("data_size", fmt::format("{} bytes run past the {} bytes before the header region", info.data_size,
                                       data_end));
  const std::uint32_t flags = decode_flags(h, known_flags, info, bad);
  info.in_companion = (flags & flag_companion) != 0;
  if (info.in_companion != in_companion)
    throw bad("flags", in_companion ? "a header of the data file's own, found in a companion file"
                                    : "a companion file's header, found inside a data file");
  decode_common(h, info, bad);
  if (in_companion) {
    info.data_device = load<std::uint64_t>(h, off::data_device);
    info.data_inode = load<std::uint64_t>(h, off::data_inode);
    info.data_file = text_field(h, off::data_file, file_field, "data_file", bad);
  }
  decode_table(region, h, 0, info.region_size - segment_header_size, info, bad);
  if (load<std::uint64_t>(h, off::header_checksum) != region_digest(region))
    throw bad("header_checksum", "does not match the header, table and metadata (modified after publish?)");
  return info;
}

segment_info parse_segment_v1(std::span<const std::byte> file, std::uint64_t file_size, std::string_view source) {
  const complaint bad = complaint_for(source);
  if (file_size < segment_header_size || file.size() < segment_header_size)
    throw bad("file size", fmt::format("{} bytes is smaller than the {}-byte header (truncated?)",
                                       file_size, segment_header_size));
  if (std::memcmp(file.data() + off::magic, magic_text, sizeof magic_text) != 0)
    throw bad("magic", "not a onecopy segment (expected \"ONECOPY\\0\")");
  segment_info info;
  info.version = load<std::uint32_t>(file, off::version);
  if (info.version != 1)
    throw bad("version", fmt::format("format version {} is not supported (this build reads 1 and {})",
                                     info.version, segment_format_version));
  info.file_size = load<std::uint64_t>(file, off::file_size);
  if (info.file_size != file_size)
    throw bad("file_size", fmt::format("header says {} bytes but the file has {} (truncated?)",
                                       info.file_size, file_size));
  info.data_offset = load<std::uint64_t>(file, off::data_offset);
  if (info.data_offset % 4096 != 0 || info.data_offset < segment_header_size || info.data_offset > file_size)
    throw bad("data_offset", fmt::format("{} is not a multiple of 4096 between {} and the file size {}",
                                         info.data_offset, segment_header_size, file_size));
  if (file.size() < info.data_offset)
    throw bad("data_offset", fmt::format("{} is beyond the {} bytes given", info.data_offset, file.size()));
  info.data_size = load<std::uint64_t>(file, off::data_size);
  if (!fits(info.data_offset, info.data_size, file_size))
    throw bad("data_size", fmt::format("{} bytes at offset {} run past the end of the file ({} bytes)",
                                       info.data_size, info.data_offset, file_size));
  (void)decode_flags(file, known_flags_v1, info, bad);
  decode_common(file, info, bad);
  info.region_size = info.data_offset;
  decode_table(file, file, segment_header_size, info.data_offset, info, bad);
  if (load<std::uint64_t>(file, off::header_checksum) != header_digest_v1(file, info.data_offset))
    throw bad("header_checksum", "does not match the header, table and metadata (modified after publish?)");
  return info;
}

}  // namespace onecopy
