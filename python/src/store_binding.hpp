// SPDX-License-Identifier: Apache-2.0
// onecopy._core.Store: create (put, open_or_create), attach, list and remove segments.
#pragma once

#include <string>
#include <vector>

#include <nanobind/nanobind.h>

#include "onecopy/engine/draft.hpp"
#include "onecopy/engine/options.hpp"
#include "plan_binding.hpp"

namespace onecopy::python {

void bind_store(nanobind::module_& m);

/// The create options of put / open_or_create's arguments: where's pages and placement (from
/// choose_placement) with the rest.
[[nodiscard]] create_options make_options(const chosen_placement& where, bool replace, bool remove_when_unused,
                                          const std::string& metadata);

/// What creating did, as handle.report: path, backing, page_size, fallbacks, warnings, ...
[[nodiscard]] nanobind::dict report_dict(const create_report& r);

}  // namespace onecopy::python
