// SPDX-License-Identifier: Apache-2.0
#include "onecopy/engine/choose_placement.hpp"

namespace onecopy {

std::optional<placement_plan> choose_placement(const plan_request& request, create_options& opts,
                                               const std::function<topology()>& probe, planning when) {
  opts.pages = request.pages;
  opts.strict = request.strict;
  opts.asked = request.where.policy;
  opts.replicate_on.clear();
  const bool readers_named = !request.gpus.empty() || !request.cpus.empty() || request.budget != 0;
  if (when == planning::when_needed && !request.where.needs_plan() && !readers_named) {
    opts.where = request.where;
    return std::nullopt;
  }
  placement_plan p = plan(probe(), request);
  opts.where = placement::local();
  switch (p.policy) {
    case numa_policy::bind: opts.where = placement::bind_to(p.copies.front().nodes); break;
    case numa_policy::interleave: opts.where = placement::interleave_over(p.copies.front().nodes); break;
    case numa_policy::replicate:
      for (const auto& c : p.copies) opts.replicate_on.push_back(c.replica_node);
      break;
    case numa_policy::local:
    case numa_policy::automatic: break;  // the planner never answers automatic
  }
  return p;
}

}  // namespace onecopy
