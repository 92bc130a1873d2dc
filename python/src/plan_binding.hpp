// SPDX-License-Identifier: Apache-2.0
// choose_placement(): numa= and pages= through the engine's choose_placement (the same as
// `onecopy put --numa/--pages`), as an object put and open_or_create take as it is.
#pragma once

#include <optional>

#include <nanobind/nanobind.h>

#include "onecopy/engine/options.hpp"
#include "onecopy/topology/plan.hpp"

namespace onecopy::python {

/// A segment's placement as chosen: create_options' page and NUMA fields, and the plan when the
/// planner decided (numa="auto", "replicate", ...).
struct chosen_placement {
  create_options options;
  std::optional<placement_plan> plan;
};

/// The plan as handle.report["plan"]: {"policy", "where", "replicate_on", "summary",
/// "reasons"}, or None when the placement was taken as written.
[[nodiscard]] nanobind::object plan_dict(const chosen_placement& c);

void bind_plan(nanobind::module_& m);

}  // namespace onecopy::python
