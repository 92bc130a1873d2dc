// SPDX-License-Identifier: Apache-2.0
// onecopy._core.Store: create (put, open_or_create), attach, list and remove segments.
#pragma once

#include <nanobind/nanobind.h>

namespace onecopy::python {

void bind_store(nanobind::module_& m);

}  // namespace onecopy::python
