// SPDX-License-Identifier: Apache-2.0
// The placement planner (design §6): given a topology and who reads an array, decide where its
// copies go (bind, interleave, one replica per node, or the kernel's default), which pages back
// them, and say why in one line per decision. Pure: no system calls, so every decision is
// testable on recorded and synthetic topologies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "onecopy/topology/placement.hpp"
#include "onecopy/topology/topology.hpp"

namespace onecopy {

/// What to plan for.
struct plan_request {
  std::uint64_t size = 0;  ///< bytes of one copy
  /// Consumers: GPU indexes (topology::gpus()), or CPU ids; both empty = every allowed CPU.
  std::vector<int> gpus;
  std::vector<int> cpus;
  /// Any policy; for bind/interleave/replicate its nodes (empty: the planner picks).
  placement where = placement::automatic();
  page_size pages = page_size::automatic;  ///< automatic: the largest that fits
  /// Host memory all copies together may use; 0 = half the free memory of the usable nodes.
  std::uint64_t budget = 0;
  bool strict = false;  ///< a fallback (smaller pages, no replication) is an error
};

/// One copy of the array.
struct plan_copy {
  numa_policy policy = numa_policy::bind;  ///< bind, interleave or local
  std::vector<int> nodes;                  ///< where its pages go (empty for local)
  std::uint64_t bytes_per_node = 0;        ///< its bytes on each of nodes (all of it for local)
  int replica_node = -1;                   ///< replicate: the N of its file "NAME@nodeN"
};

/// The planner's decision.
struct placement_plan {
  std::uint64_t size = 0;
  numa_policy policy = numa_policy::local;  ///< local, bind, interleave or replicate
  page_size pages = page_size::base;        ///< never automatic
  std::uint64_t page_bytes = 0;             ///< bytes of one page of that kind
  std::vector<int> consumer_nodes;          ///< the nodes the consumers are local to
  std::vector<plan_copy> copies;            ///< one, or one per node for replicate
  std::uint64_t total_bytes = 0;            ///< host memory of all copies, rounded to pages
  std::uint64_t budget = 0;                 ///< the budget it was checked against
  std::vector<std::string> reasons;         ///< one line per decision, in order

  /// "replicate on nodes 0-1 (2 copies), 2 MiB pages, 20 GiB in all".
  [[nodiscard]] std::string summary() const;
};

/// Decides placement and pages for request on t (design §6).
/// @throws usage_error for a bad request (size 0, a GPU/CPU/node that does not exist, a node
///         not allowed to this process, a GPU-memory node for a host copy)
/// @throws out_of_memory_error (ENOMEM) when the copies cannot fit the nodes' memory
/// @throws fallback_error when request.strict and the pages or policy asked for are not possible
[[nodiscard]] placement_plan plan(const topology& t, const plan_request& request);

/// GPU indexes from "all", "0,1", "0-3" or PCI bus ids "0000:18:00.0,0000:19:00.0".
/// @throws usage_error naming a GPU the topology does not have
[[nodiscard]] std::vector<int> parse_gpu_list(const topology& t, std::string_view text);
/// CPU ids from "all" (the allowed CPUs) or a cpulist "0-3,8".
/// @throws usage_error naming a CPU the topology does not have
[[nodiscard]] std::vector<int> parse_cpu_list(const topology& t, std::string_view text);

}  // namespace onecopy
