// SPDX-License-Identifier: Apache-2.0
// The baselines the benchmarks compare segments with: private anonymous memory of a given page
// size (base, THP, hugetlb 2 MiB / 1 GiB) and plain POSIX shared memory (shm_open, 4 KiB pages,
// no placement). Each is populated before use and reports which pages it really got.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "onecopy/engine/segment_info.hpp"
#include "onecopy/sys/fd.hpp"

namespace onecopy::bench {

/// The kinds of pages the benchmarks compare, one per backing.
enum class page_kind {
  base,        ///< 4 KiB pages: /dev/shm, or anonymous memory with MADV_NOHUGEPAGE
  thp,         ///< transparent huge pages: a huge= tmpfs, or anonymous memory with MADV_HUGEPAGE
  hugetlb_2m,  ///< hugetlbfs / MAP_HUGETLB with 2 MiB pages
  hugetlb_1g,  ///< hugetlbfs / MAP_HUGETLB with 1 GiB pages
};
/// "shm_4k", "thp_2m", "hugetlb_2m", "hugetlb_1g": the label results carry.
[[nodiscard]] std::string_view label(page_kind k) noexcept;
/// The page size of the kind (THP: 2 MiB).
[[nodiscard]] std::uint64_t page_bytes(page_kind k) noexcept;
/// The kind of a store backing (its kind and page size).
[[nodiscard]] page_kind kind_of(backing_kind kind, std::uint64_t page_size) noexcept;

/// A populated mapping, unmapped on destruction (it owns a sys::mapping). Move-only.
class region {
 public:
  /// Private anonymous memory of size bytes with pages of kind k, every page faulted in.
  /// @throws std::runtime_error naming the mapping and why (e.g. the huge-page pool is short)
  [[nodiscard]] static region private_anonymous(page_kind k, std::uint64_t size);
  /// A POSIX shared-memory object (shm_open, unlinked at once) of size bytes on /dev/shm with
  /// 4 KiB pages, written once through a writable mapping and then mapped read-only, as a
  /// reader would.
  /// @throws std::runtime_error naming the call
  [[nodiscard]] static region posix_shm(std::uint64_t size, std::span<const std::byte> contents = {});

  [[nodiscard]] std::span<std::byte> bytes() const noexcept { return map_.bytes(); }
  /// The pages the kernel gave, read back from smaps: "4 KiB", "2 MiB THP (97% huge)", "1 GiB".
  [[nodiscard]] std::string pages() const;

 private:
  explicit region(sys::mapping map) noexcept : map_(std::move(map)) {}
  sys::mapping map_;
};

/// Writes a cheap non-repeating pattern (one multiply per 8 bytes) so reads cannot be elided.
void fill_pattern(std::span<std::byte> bytes, std::uint64_t seed = 1);

/// What smaps says about the mapping containing addr, as a short text like region::pages().
[[nodiscard]] std::string pages_of(const void* addr);

}  // namespace onecopy::bench
