// SPDX-License-Identifier: Apache-2.0
// Engine values → Python values: headers and tensor entries as dicts, dtypes as DLPack dtypes.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include "onecopy/engine/dtype.hpp"
#include "onecopy/engine/segment_info.hpp"

namespace onecopy::python {

/// The DLPack dtype of an engine dtype. storage=true gives the unsigned integer type of the
/// same width for types numpy cannot represent (bf16, the F8 types), so the buffer protocol
/// can carry them; false gives the real type (kDLBfloat, kDLFloat8_*) for DLPack consumers.
[[nodiscard]] nanobind::dlpack::dtype dlpack_dtype(dtype t, bool storage);

/// One tensor-table entry: {"name", "dtype", "shape", "offset", "nbytes"}.
[[nodiscard]] nanobind::dict tensor_dict(const tensor_entry& t);

/// A decoded header: sizes, checksum, pages, backing, placement, histogram, creator, tensors.
[[nodiscard]] nanobind::dict info_dict(const segment_info& info);

}  // namespace onecopy::python
