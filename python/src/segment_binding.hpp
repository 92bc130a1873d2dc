// SPDX-License-Identifier: Apache-2.0
// onecopy._core.Segment: an attached segment (read-only mapping) and zero-copy exports of its
// tensors that keep it alive.
#pragma once

#include <nanobind/nanobind.h>

namespace onecopy::python {

void bind_segment(nanobind::module_& m);

}  // namespace onecopy::python
