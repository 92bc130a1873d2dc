// SPDX-License-Identifier: Apache-2.0
#include "convert.hpp"

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

namespace nb = nanobind;
using code = nb::dlpack::dtype_code;

namespace onecopy::python {
namespace {

nb::dlpack::dtype make(code c, std::size_t bytes) {
  nb::dlpack::dtype d;
  d.code = static_cast<std::uint8_t>(c);
  d.bits = static_cast<std::uint8_t>(bytes * 8);
  d.lanes = 1;
  return d;
}

}  // namespace

nb::dlpack::dtype dlpack_dtype(dtype t, bool storage) {
  const std::size_t size = dtype_size(t);
  switch (t) {
    case dtype::u8: case dtype::u16: case dtype::u32: case dtype::u64:
      return make(code::UInt, size);
    case dtype::i8: case dtype::i16: case dtype::i32: case dtype::i64:
      return make(code::Int, size);
    case dtype::f16: case dtype::f32: case dtype::f64:
      return make(code::Float, size);
    case dtype::c64: case dtype::c128:
      return make(code::Complex, size);
    case dtype::boolean:
      return make(code::Bool, size);
    case dtype::bf16:
      return make(storage ? code::UInt : code::Bfloat, size);
    case dtype::f8_e4m3:  // safetensors' F8_E4M3 is the "fn" variant (no infinities)
      return make(storage ? code::UInt : code::Float8_E4M3FN, size);
    case dtype::f8_e5m2:
      return make(storage ? code::UInt : code::Float8_E5M2, size);
    case dtype::f8_e8m0:
      return make(storage ? code::UInt : code::Float8_E8M0FNU, size);
    case dtype::f8_e4m3fnuz:
      return make(storage ? code::UInt : code::Float8_E4M3FNUZ, size);
    case dtype::f8_e5m2fnuz:
      return make(storage ? code::UInt : code::Float8_E5M2FNUZ, size);
  }
  return make(code::UInt, size);  // unreachable: attach validated the dtype
}

nb::dict tensor_dict(const tensor_entry& t) {
  nb::dict d;
  d["name"] = t.name;
  d["dtype"] = std::string(dtype_name(t.type));
  d["shape"] = nb::tuple(nb::cast(t.shape));
  d["offset"] = t.offset;
  d["nbytes"] = t.size;
  return d;
}

nb::dict info_dict(const segment_info& info) {
  nb::dict d;
  d["version"] = info.version;
  d["file_size"] = info.file_size;
  d["data_offset"] = info.data_offset;
  d["nbytes"] = info.data_size;
  d["checksum"] = info.checksum;
  d["page_size"] = info.page_size;
  d["huge_bytes"] = info.huge_bytes;
  d["backing"] = std::string(to_string(info.backing));
  d["placement"] = info.where.to_string();
  nb::dict histogram;
  for (const auto& h : info.histogram) histogram[nb::int_(h.node)] = h.pages;
  d["pages_per_node"] = histogram;
  d["bundle"] = info.bundle;
  d["remove_when_unused"] = info.remove_when_unused;
  d["creator_pid"] = info.creator_pid;
  d["creator_uid"] = info.creator_uid;
  d["creator_host"] = info.creator_host;
  d["created_ns"] = info.created_ns;
  d["metadata"] = info.metadata;
  nb::list tensors;
  for (const auto& t : info.tensors) tensors.append(tensor_dict(t));
  d["tensors"] = tensors;
  return d;
}

}  // namespace onecopy::python
