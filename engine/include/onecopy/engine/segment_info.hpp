// SPDX-License-Identifier: Apache-2.0
// Everything a published segment's header and tensor table say, decoded and validated
// (segment format v2, and v1 for segments published before it; docs/how-it-works.md).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "onecopy/engine/layout.hpp"
#include "onecopy/engine/options.hpp"

namespace onecopy {

/// The format version this build writes. It reads 2 and 1.
inline constexpr std::uint32_t segment_format_version = 2;
/// Size of the fixed header: v2, the last bytes of the header region; v1, the file's first.
inline constexpr std::uint64_t segment_header_size = 4096;
/// v2: files on a filesystem with blocks (pages) this large or larger keep their header region
/// in a companion file, so that an array of exactly N such pages takes N pages, not N + 1.
/// Readers decide by the data file's st_blksize, writers by the same rule.
inline constexpr std::uint64_t companion_block_size = std::uint64_t{1} << 30;
[[nodiscard]] constexpr bool header_in_companion(std::uint64_t block_size) noexcept {
  return block_size >= companion_block_size;
}
/// Size of one tensor-table entry.
inline constexpr std::uint64_t tensor_entry_size = 512;
/// Most tensors a segment may hold.
inline constexpr std::uint64_t max_tensors = 1u << 20;
/// Most node entries the placement histogram stores.
inline constexpr std::size_t max_histogram_nodes = 64;

/// Which kind of memory backs a segment.
enum class backing_kind : std::uint32_t {
  directory = 0,  ///< an ONECOPY_DIR on some other filesystem
  shm = 1,        ///< tmpfs without huge pages (/dev/shm): base pages
  thp = 2,        ///< tmpfs mounted huge=within_size|always: transparent huge pages
  hugetlbfs = 3,  ///< hugetlbfs: reserved huge pages
};
[[nodiscard]] std::string_view to_string(backing_kind k) noexcept;

/// Pages of a segment resident on one NUMA node.
struct node_pages {
  int node = 0;
  std::uint64_t pages = 0;
  friend bool operator==(const node_pages&, const node_pages&) = default;
};

/// A segment's decoded header and tensor table.
struct segment_info {
  std::uint32_t version = segment_format_version;
  std::uint64_t file_size = 0;    ///< of the data file
  std::uint64_t data_offset = 0;  ///< 0 in v2: the data starts the file, on a page boundary
  /// v2: bytes of the header region (tensor table, metadata, fixed header last), a multiple of
  /// 4 KiB: the last region_size bytes of the data file, or the whole companion file.
  std::uint64_t region_size = 0;
  /// v2, header in a companion: the data file it describes (name, device, inode; checked on read).
  bool in_companion = false;
  std::string data_file;
  std::uint64_t data_device = 0;
  std::uint64_t data_inode = 0;
  std::uint64_t data_size = 0;
  std::uint64_t checksum = 0;    ///< chunked xxh3-64 of the data region (see checksum.hpp)
  std::uint64_t page_size = 0;   ///< page size the kernel gave, read back from smaps
  std::uint64_t huge_bytes = 0;  ///< bytes mapped with pages larger than the base page
  backing_kind backing = backing_kind::directory;
  placement where;                    ///< local, bind or interleave, as applied
  /// The policy its creator asked for (auto: the planner chose where; replicate: one file per
  /// node); std::nullopt in files written before it was recorded.
  std::optional<numa_policy> asked;
  std::vector<node_pages> histogram;  ///< from move_pages after populate
  bool bundle = false;
  bool remove_when_unused = false;
  int creator_pid = 0;
  std::uint32_t creator_uid = 0;
  std::string creator_host;
  std::int64_t created_ns = 0;  ///< Unix time in nanoseconds
  std::string metadata;
  std::vector<tensor_entry> tensors;
};

/// What the last segment_header_size bytes of a v2 header region say about it, before any
/// validation: whether it looks like one (magic), its version and its claimed region size.
struct region_claim {
  bool magic = false;
  std::uint32_t version = 0;
  std::uint64_t region_size = 0;
  std::uint64_t file_size = 0;  ///< of the data file, as the header says
};
/// Reads magic and version from header's first 12 bytes (also v1's), the rest only from a
/// whole fixed header (segment_header_size bytes); fields beyond header.size() stay 0.
[[nodiscard]] region_claim claim_of(std::span<const std::byte> header) noexcept;

/// Decodes and validates a v2 header region against the data file's real size.
/// @param region the whole region: the data file's last region_size bytes, or a companion file
/// @param file_size the data file's size as fstat reports it
/// @param in_companion where region was found: the header records it, and they must agree
/// @param source the path or name used in error messages
/// @throws format_error "<source>: <field>: <what is wrong>" for any malformed field
[[nodiscard]] segment_info parse_segment(std::span<const std::byte> region, std::uint64_t file_size,
                                         bool in_companion, std::string_view source);

/// Decodes and validates a v1 file (fixed header at offset 0, table, metadata, then the data at
/// data_offset). Reads only the bytes before data_offset.
/// @param head the file's first bytes (at least data_offset of them; may be the whole mapping)
/// @throws format_error as parse_segment
[[nodiscard]] segment_info parse_segment_v1(std::span<const std::byte> head, std::uint64_t file_size,
                                            std::string_view source);

/// Encodes info (and its layout) as a v2 header region. The inverse of parse_segment.
/// pre: region.size() == info.region_size
void write_segment_header(std::span<std::byte> region, const segment_info& info);

/// The header region of a layout: returns info with data_offset 0, region_size and the data
/// size filled (everything else left as given).
[[nodiscard]] segment_info plan_segment_file(const layout& l, std::string metadata);

/// Bytes of a v2 data file for info on a filesystem of granule-sized allocation units: the
/// data, then (unless in_companion) the header region at the end, rounded up to whole units.
[[nodiscard]] std::uint64_t segment_file_size(const segment_info& info, std::uint64_t granule);

}  // namespace onecopy
