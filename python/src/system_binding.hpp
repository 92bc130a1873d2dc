// SPDX-License-Identifier: Apache-2.0
// What the host has and what processes use: the sysfs topology (nodes, CPUs, huge-page pools)
// and per-process memory (PSS plus the hugetlb share).
#pragma once

#include <nanobind/nanobind.h>

namespace onecopy::python {

void bind_system(nanobind::module_& m);

}  // namespace onecopy::python
