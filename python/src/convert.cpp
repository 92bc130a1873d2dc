// SPDX-License-Identifier: Apache-2.0
#include "convert.hpp"

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "onecopy/engine/segment_json.hpp"

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

namespace {

nb::object to_python(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return nb::none();
    case nlohmann::json::value_t::boolean: return nb::bool_(j.get<bool>());
    case nlohmann::json::value_t::number_integer: return nb::int_(j.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: return nb::int_(j.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float: return nb::float_(j.get<double>());
    case nlohmann::json::value_t::string: {
      const auto& text = j.get_ref<const std::string&>();
      return nb::str(text.data(), text.size());
    }
    case nlohmann::json::value_t::array: {
      nb::list l;
      for (const auto& e : j) l.append(to_python(e));
      return l;
    }
    default: {
      nb::dict d;
      for (const auto& [k, v] : j.items()) d[k.c_str()] = to_python(v);
      return d;
    }
  }
}

// The package's dict types that also answer the schema-1 Python keys (with a warning).
nb::object package_type(const char* name) { return nb::module_::import_("onecopy._segment_info").attr(name); }

}  // namespace

nb::object tensor_dict(const tensor_entry& t) {
  nlohmann::json j = {{"name", t.name}, {"dtype", dtype_name(t.type)}, {"shape", t.shape},
                      {"offset", t.offset}, {"bytes", t.size}};
  return package_type("TensorInfo")(to_python(j));
}

nb::object info_dict(const segment_info& info) { return package_type("SegmentInfo")(to_python(segment_json(info))); }

}  // namespace onecopy::python
