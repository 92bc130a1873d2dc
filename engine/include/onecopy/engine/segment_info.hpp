// SPDX-License-Identifier: Apache-2.0
// Everything a published segment's header and tensor table say, decoded and validated
// (segment format v1, see design §3).
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

/// Size of the fixed header at offset 0.
inline constexpr std::uint64_t segment_header_size = 4096;
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
  std::uint32_t version = 1;
  std::uint64_t file_size = 0;
  std::uint64_t data_offset = 0;
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

/// Decodes and validates a segment file's header, tensor table and metadata against the
/// file's real size. Reads only the bytes before data_offset.
/// @param file the file's bytes (at least the first data_offset bytes; may be the whole mapping)
/// @param file_size the size fstat reports
/// @param source the path or name used in error messages
/// @throws format_error "<source>: <field>: <what is wrong>" for any malformed field
[[nodiscard]] segment_info parse_segment(std::span<const std::byte> file, std::uint64_t file_size,
                                         std::string_view source);

/// Encodes info (and its layout) into the bytes before data_offset. The inverse of parse_segment.
/// pre: header.size() >= info.data_offset
void write_segment_header(std::span<std::byte> header, const segment_info& info);

/// Where the tensor table, metadata and data go for a layout: returns info with the offsets
/// and sizes filled (everything else left as given).
[[nodiscard]] segment_info plan_segment_file(const layout& l, std::string metadata);

}  // namespace onecopy
