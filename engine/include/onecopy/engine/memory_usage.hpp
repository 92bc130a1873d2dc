// SPDX-License-Identifier: Apache-2.0
// How much memory processes really use, counted honestly: PSS from smaps_rollup plus each
// process's share of hugetlb pages, which the kernel leaves out of Rss and Pss.
#pragma once

#include <cstdint>
#include <span>

namespace onecopy {

/// One process's memory.
struct process_memory {
  std::uint64_t pss = 0;            ///< Pss from /proc/PID/smaps_rollup (includes THP shmem)
  std::uint64_t hugetlb = 0;        ///< Shared_Hugetlb + Private_Hugetlb it maps
  std::uint64_t hugetlb_share = 0;  ///< its share: each hugetlb mapping divided by its mappers
  [[nodiscard]] std::uint64_t total() const noexcept { return pss + hugetlb_share; }
};

/// Memory of one process. A hugetlb mapping's share divides it by the number of processes on
/// the host that map the same file (found in /proc/*/maps).
/// @throws os_error when /proc/PID cannot be read (the process is gone or not ours)
[[nodiscard]] process_memory memory_of(int pid);

/// What the kernel maps, in this process, for the mapping (VMA) that contains addr.
struct mapping_pages {
  std::uint64_t kernel_page_size = 0;  ///< KernelPageSize (2 MiB for hugetlbfs 2M, else base)
  std::uint64_t rss = 0;
  std::uint64_t pmd_mapped = 0;  ///< THP: AnonHugePages + ShmemPmdMapped + FilePmdMapped
  std::uint64_t hugetlb = 0;     ///< Shared_Hugetlb + Private_Hugetlb
};
/// Reads /proc/self/smaps for the VMA holding addr (all zero when none does).
/// @throws os_error when /proc/self/smaps cannot be read
[[nodiscard]] mapping_pages pages_of_mapping(const void* addr);

/// Sum of total() over pids.
[[nodiscard]] std::uint64_t total_memory_of(std::span<const int> pids);

}  // namespace onecopy
