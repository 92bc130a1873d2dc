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

#include "onecopy/topology/topology.hpp"

namespace onecopy {

/// How copies are spread over NUMA nodes.
enum class plan_policy {
  automatic,   ///< the planner decides (request only)
  bind,        ///< one copy, pages only on the given nodes
  interleave,  ///< one copy, pages round-robin over the given nodes
  replicate,   ///< one copy per node ("NAME@nodeN"), each bound to its node
  local,       ///< one copy, no policy: pages land where the populating process runs
};
/// "auto", "bind", "interleave", "replicate", "local".
[[nodiscard]] std::string_view to_string(plan_policy p) noexcept;

/// Which pages back a copy (the planner's view of the engine's page sizes).
enum class page_kind {
  huge_1g,  ///< 1 GiB hugetlbfs pages from the nodes' pools
  huge_2m,  ///< 2 MiB hugetlbfs pages from the nodes' pools
  thp,      ///< transparent huge pages on a tmpfs mounted huge=within_size|always
  base,     ///< the kernel's base pages (4 KiB; 64 KiB on some POWER/ARM kernels)
};
/// "1g", "2m", "thp", "base".
[[nodiscard]] std::string_view to_string(page_kind p) noexcept;

/// What to plan for.
struct plan_request {
  std::uint64_t size = 0;  ///< bytes of one copy
  /// Consumers: GPU indexes (topology::gpus()), or CPU ids; both empty = every allowed CPU.
  std::vector<int> gpus;
  std::vector<int> cpus;
  plan_policy policy = plan_policy::automatic;
  std::vector<int> nodes;  ///< for bind/interleave/replicate: these nodes (empty: planner picks)
  std::optional<page_kind> pages;  ///< std::nullopt: the largest that fits
  /// Host memory all copies together may use; 0 = half the free memory of the usable nodes.
  std::uint64_t budget = 0;
  bool strict = false;  ///< a fallback (smaller pages, no replication) is an error
};

/// One copy of the array.
struct plan_copy {
  plan_policy policy = plan_policy::bind;  ///< bind, interleave or local
  std::vector<int> nodes;                  ///< where its pages go (empty for local)
  std::uint64_t bytes_per_node = 0;        ///< its bytes on each of nodes (all of it for local)
  int replica_node = -1;                   ///< replicate: the N of its file "NAME@nodeN"
};

/// The planner's decision.
struct placement_plan {
  std::uint64_t size = 0;
  plan_policy policy = plan_policy::local;  ///< never automatic
  page_kind pages = page_kind::base;
  std::uint64_t page_size = 0;              ///< bytes of one page of that kind
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

/// A policy as written on the command line: "auto", "bind[:N,M]", "interleave[:N-M]",
/// "replicate[:N,M]", "local".
struct policy_spec {
  plan_policy policy = plan_policy::automatic;
  std::vector<int> nodes;
};
/// @throws usage_error naming the text and the allowed forms
[[nodiscard]] policy_spec parse_plan_policy(std::string_view text);
/// "auto" → std::nullopt; "1g", "2m", "thp", "4k"/"base". @throws usage_error
[[nodiscard]] std::optional<page_kind> parse_page_kind(std::string_view text);
/// GPU indexes from "all", "0,1", "0-3" or PCI bus ids "0000:18:00.0,0000:19:00.0".
/// @throws usage_error naming a GPU the topology does not have
[[nodiscard]] std::vector<int> parse_gpu_list(const topology& t, std::string_view text);
/// CPU ids from "all" (the allowed CPUs) or a cpulist "0-3,8".
/// @throws usage_error naming a CPU the topology does not have
[[nodiscard]] std::vector<int> parse_cpu_list(const topology& t, std::string_view text);

}  // namespace onecopy
