// SPDX-License-Identifier: Apache-2.0
// plan_placement(): the topology planner's decision for a segment, as the engine's options.
#pragma once

#include <nanobind/nanobind.h>

namespace onecopy::python {

void bind_plan(nanobind::module_& m);

}  // namespace onecopy::python
