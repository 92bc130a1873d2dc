// SPDX-License-Identifier: Apache-2.0
// onecopy._core.Store: create (put, open_or_create), attach, list and remove segments.
#pragma once

#include <string>
#include <vector>

#include <nanobind/nanobind.h>

#include "onecopy/engine/draft.hpp"
#include "onecopy/engine/options.hpp"

namespace onecopy::python {

void bind_store(nanobind::module_& m);

/// The create options of put / open_or_create's arguments. numa: an engine placement text;
/// replicate_on: nodes for one copy each (from the planner; then numa is "none").
[[nodiscard]] create_options make_options(const std::string& pages, const std::string& numa,
                                          const std::vector<int>& replicate_on, bool strict,
                                          bool replace, bool remove_when_unused,
                                          const std::string& metadata);

/// What creating did, as handle.report: path, backing, page_size, fallbacks, warnings, ...
[[nodiscard]] nanobind::dict report_dict(const create_report& r);

}  // namespace onecopy::python
