// SPDX-License-Identifier: Apache-2.0
// The planner (topology/plan.hpp) on this host's live topology, for numa="auto", "replicate"
// and "local" (the same mapping as `onecopy put --numa`, cli/put_plan.cpp): where the pages go
// as an engine placement text, or the nodes to replicate on, plus the plan's reasons.
#include "plan_binding.hpp"

#include <string>
#include <vector>

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "onecopy/engine/options.hpp"
#include "onecopy/topology/plan.hpp"
#include "onecopy/topology/topology.hpp"

namespace nb = nanobind;

namespace onecopy::python {
namespace {

nb::dict plan_placement(const std::string& numa, const std::string& pages, bool strict,
                        std::uint64_t nbytes) {
  placement_plan p;
  {
    nb::gil_scoped_release release;
    const topology t = topology::live();
    plan_request r;
    r.size = nbytes;
    const policy_spec spec = parse_plan_policy(numa);
    r.policy = spec.policy;
    r.nodes = spec.nodes;
    r.pages = parse_page_kind(pages);
    r.strict = strict;
    p = plan(t, r);
  }
  // The planner decides where; the engine still picks the pages from its own backings.
  placement where;
  std::vector<int> replicate_on;
  switch (p.policy) {
    case plan_policy::bind: where = placement::bind_to(p.copies.front().nodes); break;
    case plan_policy::interleave: where = placement::interleave_over(p.copies.front().nodes); break;
    case plan_policy::replicate:
      for (const auto& c : p.copies) replicate_on.push_back(c.replica_node);
      break;
    case plan_policy::local:
    case plan_policy::automatic: break;
  }
  nb::dict d;
  d["policy"] = std::string(to_string(p.policy));
  d["where"] = where.to_string();
  d["replicate_on"] = replicate_on;
  d["summary"] = p.summary();
  d["reasons"] = p.reasons;
  return d;
}

}  // namespace

void bind_plan(nb::module_& m) {
  m.def("plan_placement", &plan_placement, nb::arg("numa"), nb::arg("pages"), nb::arg("strict"),
        nb::arg("nbytes"),
        "The planner's placement for a segment of nbytes on this host: {'policy', 'where', "
        "'replicate_on', 'summary', 'reasons'}.");
}

}  // namespace onecopy::python
