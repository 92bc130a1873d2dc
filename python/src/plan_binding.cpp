// SPDX-License-Identifier: Apache-2.0
// numa= and pages= → the engine's choose_placement on this host's live topology (probed only
// for the forms the planner decides), kept as create_options: no text goes back and forth.
#include "plan_binding.hpp"

#include <string>
#include <vector>

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "onecopy/engine/choose_placement.hpp"

namespace nb = nanobind;

namespace onecopy::python {
namespace {

chosen_placement choose(const std::string& numa, const std::string& pages, bool strict, std::uint64_t nbytes) {
  plan_request r;
  r.size = nbytes;
  r.where = placement::parse(numa);
  r.pages = parse_page_size(pages);
  r.strict = strict;
  chosen_placement c;
  nb::gil_scoped_release release;  // a live probe reads hwloc and /sys
  c.plan = choose_placement(r, c.options);
  return c;
}

}  // namespace

nb::object plan_dict(const chosen_placement& c) {
  if (!c.plan) return nb::none();
  nb::dict d;
  d["policy"] = std::string(to_string(c.plan->policy));
  d["where"] = c.options.where.to_string();
  d["replicate_on"] = c.options.replicate_on;
  d["summary"] = c.plan->summary();
  d["reasons"] = c.plan->reasons;
  return d;
}

void bind_plan(nb::module_& m) {
  nb::class_<chosen_placement>(m, "Placement", "A segment's placement as choose_placement chose it.")
      .def_prop_ro("where", [](const chosen_placement& c) { return c.options.where.to_string(); },
                   "The NUMA placement each file gets: 'local', 'bind:1', 'interleave:0-3'.")
      .def_prop_ro("replicate_on", [](const chosen_placement& c) { return c.options.replicate_on; },
                   "Nodes with one copy each (NAME@nodeN); empty: one file.")
      .def_prop_ro("plan", &plan_dict, "The planner's decision and reasons, or None.");
  m.def("choose_placement", &choose, nb::arg("numa"), nb::arg("pages"), nb::arg("strict"), nb::arg("nbytes"),
        "numa= and pages= for a segment of nbytes on this host, as `onecopy put --numa/--pages` "
        "chooses them (the planner for auto, replicate, bind without nodes).");
}

}  // namespace onecopy::python
