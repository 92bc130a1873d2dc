// SPDX-License-Identifier: Apache-2.0
// onecopy._core.serve_attach / serve_seal / serve_unseal: host segments through `onecopy serve`
// (attach from the fd it hands out; its sealed copies).
#pragma once

#include <nanobind/nanobind.h>

namespace onecopy::python {

void bind_serve(nanobind::module_& m);

}  // namespace onecopy::python
