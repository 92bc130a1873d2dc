// SPDX-License-Identifier: Apache-2.0
// How engine exceptions become Python exceptions: OSError subclasses that keep errno, ValueError
// for bad arguments, onecopy.FormatError for malformed segment files.
#pragma once

#include <nanobind/nanobind.h>

namespace onecopy::python {

/// Creates onecopy's exception classes on module m and registers the translator.
void bind_errors(nanobind::module_& m);

}  // namespace onecopy::python
