// SPDX-License-Identifier: Apache-2.0
// Internal. The memory-mapping calls: mmap into an owning sys::mapping, madvise, mprotect and
// mbind. Failures that must stop the caller throw an os_error naming the call, the file and
// errno; advice that may fail without harm returns its errno instead, and never allocates, so
// populating threads can use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "onecopy/sys/fd.hpp"

namespace onecopy::sys {

/// What a mapping may do with its pages.
enum class access { read_only, read_write };

/// Maps length bytes of the file fd, from offset 0, shared with every process that maps it.
/// @param name the file, in messages
/// @throws out_of_memory_error "mmap(<name>, <size>, PROT_READ): Cannot allocate memory", with
///   this process's mapping count when vm.max_map_count is what ran out; os_error for the rest
///   (EACCES for a writable mapping of a read-only fd, ENODEV for a file that cannot be mapped)
[[nodiscard]] mapping map_shared(int fd, std::size_t length, access how, const std::filesystem::path& name);

/// Maps length bytes of the file fd, from offset 0, read-write and copy-on-write: writes stay in
/// this mapping (a page is copied when first written) and never reach the file.
/// @throws as map_shared, "mmap(<name>, <size>, copy-on-write)"
[[nodiscard]] mapping map_private(int fd, std::size_t length, const std::filesystem::path& name);

/// Zero-filled private memory (read-write), on huge pages of huge_page_size bytes from the
/// hugetlb pool when it is not 0.
/// @throws out_of_memory_error "mmap(private anonymous, <size>, <page> pages)" when the pool or
///   memory runs out; os_error for the rest
[[nodiscard]] mapping map_private_anonymous(std::size_t length, std::uint64_t huge_page_size = 0);

/// Zero-filled read-write memory this process shares with the children it forks afterwards.
/// @throws out_of_memory_error / os_error "mmap(shared anonymous, <size>)"
[[nodiscard]] mapping map_shared_anonymous(std::size_t length);

/// madvise(2) advice onecopy gives.
enum class advice {
  huge_pages,      ///< MADV_HUGEPAGE: THP for this range even under "advise"
  no_huge_pages,   ///< MADV_NOHUGEPAGE
  populate_read,   ///< MADV_POPULATE_READ: map the pages that exist, allocate none
  populate_write,  ///< MADV_POPULATE_WRITE: allocate and map every page
};
/// madvise(range, a); 0 or its errno. Never throws or allocates: huge-page advice is advisory
/// (callers ignore a failure), and a populate's EFAULT/ENOMEM means different things to each
/// caller (a full tmpfs, an empty huge-page pool), which names it.
[[nodiscard]] int advise(std::span<const std::byte> range, advice a) noexcept;

/// mprotect(range, PROT_READ): from now on a write through any pointer into range faults.
/// pre: range is page-aligned (a whole mapping or page-aligned part of one)
/// @throws os_error "mprotect(<name>, PROT_READ)"
void protect_read_only(std::span<const std::byte> range, const std::filesystem::path& name);

/// How bind_memory spreads the pages over its nodes.
enum class memory_policy { bind, interleave };
/// mbind(range): pages of range allocated from now on come from nodes only (bind), or round-robin
/// over them (interleave). Pages that already exist stay where they are.
/// @throws usage_error for a node outside [0, 1024); os_error "mbind(bind:0-1, 1.0 GiB)" (EINVAL
///   for a node without memory, EPERM outside the cpuset)
void bind_memory(std::span<const std::byte> range, memory_policy policy, std::span<const int> nodes);

/// " (this process has N mappings and vm.max_map_count is M: …)" when this process is near the
/// limit on mappings, which mmap reports as ENOMEM; "" otherwise.
[[nodiscard]] std::string mapping_limit_hint();

}  // namespace onecopy::sys
