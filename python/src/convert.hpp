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

/// One tensor-table entry as segment_json's "tensors" have it: {"name", "dtype", "shape",
/// "offset", "bytes"}, as an onecopy._segment_info.TensorInfo.
[[nodiscard]] nanobind::object tensor_dict(const tensor_entry& t);

/// A decoded header as segment_json (segment_json.hpp, docs/segment-json.md) has it, as an
/// onecopy._segment_info.SegmentInfo (a dict that still answers the old Python keys).
[[nodiscard]] nanobind::object info_dict(const segment_info& info);

}  // namespace onecopy::python
