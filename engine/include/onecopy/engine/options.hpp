// SPDX-License-Identifier: Apache-2.0
// Typed options for creating and attaching segments: page size, NUMA placement, lifetime.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace onecopy {

/// Which pages back a segment. automatic takes the largest that fits, recording each fallback.
enum class page_size {
  automatic,  ///< 1 GiB hugetlbfs, then 2 MiB hugetlbfs, then THP tmpfs, then base pages
  huge_1g,    ///< hugetlbfs with 1 GiB pages
  huge_2m,    ///< hugetlbfs with 2 MiB pages
  thp,        ///< transparent huge pages on a tmpfs mounted huge=within_size|always
  base,       ///< the kernel's base pages (4 KiB) on /dev/shm
};
/// "auto", "1g", "2m", "thp", "4k".
[[nodiscard]] std::string_view to_string(page_size p) noexcept;
/// Parses "auto|1g|2m|thp|4k" (also "1G", "2M", "4K", "base").
/// @throws usage_error naming the text and the allowed values
[[nodiscard]] page_size parse_page_size(std::string_view text);

/// How a segment's pages are spread over NUMA nodes.
enum class numa_policy : std::uint32_t {
  none = 0,        ///< the kernel's default (first touch by the populating threads)
  bind = 1,        ///< only on the given nodes (MPOL_BIND)
  interleave = 2,  ///< round-robin over the given nodes (MPOL_INTERLEAVE)
};

/// A NUMA policy and its nodes (OS indexes). Empty nodes with interleave = all memory nodes.
struct placement {
  numa_policy policy = numa_policy::none;
  std::vector<int> nodes;

  [[nodiscard]] static placement bind_to(std::vector<int> nodes) { return {numa_policy::bind, std::move(nodes)}; }
  [[nodiscard]] static placement interleave_over(std::vector<int> nodes = {}) {
    return {numa_policy::interleave, std::move(nodes)};
  }
  /// Parses "none", "bind:N[,M]", "interleave", "interleave:N,M" (also node ranges "0-3").
  /// @throws usage_error naming the text and the allowed forms
  [[nodiscard]] static placement parse(std::string_view text);
  /// "none", "bind:1", "interleave:0-3".
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const placement&, const placement&) = default;
};

/// How far a fill from files has come (draft::read_from_file, formats::fill): bytes filled so
/// far and the fill's total. Called from the filling threads, one call at a time, after pieces
/// of 8 or 16 MiB; a thread never waits for another's call (a piece that lands meanwhile is
/// counted by the next one), and the last call has done == total. It must not throw.
using fill_progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

/// How to create a segment.
struct create_options {
  page_size pages = page_size::automatic;
  bool strict = false;          ///< a page-size fallback is an error instead of a reason line
  placement where;              ///< NUMA policy applied before the first page exists
  bool replace = false;         ///< publish over an existing segment of the same name
  bool remove_when_unused = false;  ///< `gc` removes it once no process maps it
  std::string metadata;         ///< free text kept in the segment (e.g. safetensors __metadata__)
  unsigned threads = 0;         ///< populate/checksum/fill threads; 0 = one per usable CPU
  /// Replicate: one file per listed node, "NAME@nodeN", each bound to its node (where must then
  /// be none). The draft's bytes are the first node's replica; publish() copies them into the
  /// others. Readers attach the replica of their node. Empty: one file, "NAME".
  std::vector<int> replicate_on;
  /// Told after each piece of a fill from files (e.g. to draw a progress line); empty: nobody.
  fill_progress on_fill;
};

/// How to attach a segment.
struct attach_options {
  bool populate = false;  ///< prefault the whole mapping (MADV_POPULATE_READ) before returning
  bool verify = false;    ///< recompute the checksum and throw on mismatch
  int node = -1;          ///< for replicated segments: the replica to take (-1: caller's node)
  /// Keep the segment file open (segment::fd()) for passing it to other processes. Off by
  /// default: a mapping needs no descriptor, so a process can attach far more segments than
  /// RLIMIT_NOFILE allows files open.
  bool keep_fd = false;
};

/// Default time open_or_create waits for another process that is creating the same name.
inline constexpr std::chrono::milliseconds default_wait{std::chrono::minutes(10)};

}  // namespace onecopy
