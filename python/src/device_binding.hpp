// SPDX-License-Identifier: Apache-2.0
// onecopy._core.DeviceArray and serve_device_array(): the device copy `onecopy serve` keeps of a
// segment on one GPU (one copy per GPU for every process), imported into this process.
#pragma once

#include <nanobind/nanobind.h>

namespace onecopy::python {

void bind_device(nanobind::module_& m);

}  // namespace onecopy::python
