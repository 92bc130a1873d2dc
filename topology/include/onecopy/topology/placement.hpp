// SPDX-License-Identifier: Apache-2.0
// The placement vocabulary, once for every face (CLI --numa/--pages, Python numa=/pages=, MPI,
// C++ create_options, the planner and the segment header): which pages back a segment and how
// its pages spread over NUMA nodes. A new policy is one enumerator here, its spelling in
// placement.cpp, and what the planner and the engine do with it.
#pragma once

#include <cstdint>
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
  base,       ///< the kernel's base pages (4 KiB; 64 KiB on some POWER/ARM kernels) on /dev/shm
};
/// "auto", "1g", "2m", "thp", "4k".
[[nodiscard]] std::string_view to_string(page_size p) noexcept;
/// Parses "auto|1g|2m|thp|4k" in any case (also "1GiB", "2MiB", "4KiB", "base").
/// @throws usage_error naming the text and the allowed values
[[nodiscard]] page_size parse_page_size(std::string_view text);

/// How a segment's pages spread over NUMA nodes. local, bind and interleave are what a segment
/// file gets (their values are stored in its header); replicate and automatic are requests
/// that the planner (plan.hpp) turns into those, via onecopy::place (engine/placement.hpp).
enum class numa_policy : std::uint32_t {
  local = 0,       ///< no policy: pages go where the populating threads run (first touch)
  bind = 1,        ///< only on the given nodes (MPOL_BIND)
  interleave = 2,  ///< round-robin over the given nodes (MPOL_INTERLEAVE)
  replicate = 3,   ///< one copy per node, "NAME@nodeN", each bound to its node (a request)
  automatic = 4,   ///< the planner decides from the topology, the size and the readers (a request)
};
/// "local", "bind", "interleave", "replicate", "auto".
[[nodiscard]] std::string_view to_string(numa_policy p) noexcept;

/// A NUMA policy and its nodes (OS indexes). Empty nodes: bind → the readers' nodes (planned),
/// interleave → every memory node, replicate → one copy per reader node (planned).
struct placement {
  numa_policy policy = numa_policy::local;
  std::vector<int> nodes;

  [[nodiscard]] static placement local() { return {}; }
  [[nodiscard]] static placement automatic() { return {numa_policy::automatic, {}}; }
  [[nodiscard]] static placement bind_to(std::vector<int> nodes) { return {numa_policy::bind, std::move(nodes)}; }
  [[nodiscard]] static placement interleave_over(std::vector<int> nodes = {}) {
    return {numa_policy::interleave, std::move(nodes)};
  }
  [[nodiscard]] static placement replicate_on(std::vector<int> nodes = {}) {
    return {numa_policy::replicate, std::move(nodes)};
  }
  /// Parses "auto", "local" (also "none", "default"), "bind[:N,M]", "interleave[:N-M]",
  /// "replicate[:N,M]" in any case; node lists as cpulists ("0-3,8"), sorted, duplicates dropped.
  /// @throws usage_error naming the text and the allowed forms
  [[nodiscard]] static placement parse(std::string_view text);
  /// "auto", "local", "bind:1", "interleave", "interleave:0-3", "replicate:0,2".
  [[nodiscard]] std::string to_string() const;
  /// True for the forms only the planner can turn into a segment's placement: auto, replicate
  /// and bind without nodes. local, bind:N and interleave[:N] go to the engine as written.
  [[nodiscard]] bool needs_plan() const noexcept;
  friend bool operator==(const placement&, const placement&) = default;
};

}  // namespace onecopy
