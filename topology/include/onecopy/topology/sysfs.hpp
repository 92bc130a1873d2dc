// SPDX-License-Identifier: Apache-2.0
// Live facts about this host's memory read straight from /sys and /proc: NUMA nodes and their
// CPUs, huge-page pools (total and free, per node), THP mode and the mounts that give huge pages.
// These are re-read on every call: pools and free counts change under us.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace onecopy::sysfs {

/// One huge-page pool: pages of one size, on one node or host-wide.
struct hugepage_pool {
  std::uint64_t page_size = 0;  ///< bytes, e.g. 2 MiB
  std::uint64_t total = 0;      ///< nr_hugepages
  std::uint64_t free = 0;       ///< free_hugepages
};

/// NUMA nodes that are online ("/sys/devices/system/node/online"); {0} on a kernel without NUMA.
[[nodiscard]] std::vector<int> online_nodes();

/// Nodes that have memory (N_MEMORY, "has_memory"); falls back to online_nodes().
[[nodiscard]] std::vector<int> memory_nodes();

/// CPUs of one node ("nodeN/cpulist"); empty for CPU-less nodes.
[[nodiscard]] std::vector<int> node_cpus(int node);

/// The node's memory in bytes: total and free from "nodeN/meminfo".
struct node_memory {
  std::uint64_t total = 0;
  std::uint64_t free = 0;
};
[[nodiscard]] node_memory node_meminfo(int node);

/// Huge-page pools of one node, smallest page first.
[[nodiscard]] std::vector<hugepage_pool> node_hugepages(int node);

/// Host-wide pools from /sys/kernel/mm/hugepages, smallest page first.
[[nodiscard]] std::vector<hugepage_pool> host_hugepages();

/// The free pages of one size on one node (0 when the pool does not exist).
[[nodiscard]] std::uint64_t free_hugepages(int node, std::uint64_t page_size);

/// "/sys/kernel/mm/transparent_hugepage/shmem_enabled" with the selected mode, e.g. "advise";
/// "unsupported" when the file is missing.
[[nodiscard]] std::string thp_shmem_mode();

/// The base page size of this kernel (4 KiB on x86-64, 64 KiB on some POWER and ARM kernels).
[[nodiscard]] std::uint64_t base_page_size();

/// One line of /proc/mounts.
struct mount_entry {
  std::string device;
  std::filesystem::path dir;
  std::string type;     ///< "hugetlbfs", "tmpfs", ...
  std::string options;  ///< comma-separated
  /// The value of option key ("pagesize" → "2M"), or "" when absent.
  [[nodiscard]] std::string option(std::string_view key) const;
};
/// Every mount from /proc/mounts (octal escapes in paths decoded).
[[nodiscard]] std::vector<mount_entry> mounts();

/// The page size of a hugetlbfs mount (its pagesize= option; the default size when absent).
[[nodiscard]] std::uint64_t hugetlbfs_page_size(const mount_entry& m);

/// True for a tmpfs whose huge= option gives THP to its files (always or within_size).
[[nodiscard]] bool tmpfs_gives_thp(const mount_entry& m);

/// The kernel's NUMA distance from one node to another ("nodeN/distance", ACPI SLIT: 10 is
/// local): 10 for from == to, 20 when unknown, INT_MAX when either node is negative.
[[nodiscard]] int node_distance(int from, int to);

/// The node the calling thread is running on (getcpu), 0 when unknown.
[[nodiscard]] int current_node();

}  // namespace onecopy::sysfs
