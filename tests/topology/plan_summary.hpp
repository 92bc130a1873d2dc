// SPDX-License-Identifier: Apache-2.0
// A plan's decision in one comparable string, "replicate:0-1" or "bind:1", for the planner's
// tests on recorded and synthetic machines.
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>

#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/plan.hpp"

namespace onecopy::test {

[[nodiscard]] inline std::string decided(const placement_plan& p) {
  std::vector<int> nodes;
  for (const auto& c : p.copies) {
    if (p.policy == numa_policy::replicate) nodes.push_back(c.replica_node);
    else nodes.insert(nodes.end(), c.nodes.begin(), c.nodes.end());
  }
  return fmt::format("{}:{}", to_string(p.policy), sys::format_cpulist(nodes));
}

}  // namespace onecopy::test
