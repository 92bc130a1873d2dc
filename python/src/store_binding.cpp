// SPDX-License-Identifier: Apache-2.0
// The Store class. Every call that can block or touch many pages (create, populate, copy,
// publish, attach, waiting for another creator) runs with the GIL released; a Python fill
// callback takes it back for the duration of the call.
#include "store_binding.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "convert.hpp"
#include "load_binding.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"

namespace nb = nanobind;

namespace onecopy::python {
namespace {

using input_bytes = nb::ndarray<const std::uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
/// (tensor name, dtype name, shape, its bytes as a 1-D uint8 array)
using input_tensor = std::tuple<std::string, std::string, std::vector<std::uint64_t>, input_bytes>;

dtype parse_dtype_or_throw(const std::string& text) {
  const auto t = parse_dtype(text);
  if (!t)
    throw usage_error("unknown dtype '" + text + "' (u8 i8 u16 i16 u32 i32 u64 i64 f16 bf16 f32 "
                      "f64 bool f8_e4m3 f8_e5m2 f8_e8m0 c64 c128)");
  return *t;
}

}  // namespace

create_options make_options(const chosen_placement& where, bool replace, bool remove_when_unused,
                            const std::string& metadata) {
  create_options o = where.options;
  o.replace = replace;
  o.remove_when_unused = remove_when_unused;
  o.metadata = metadata;
  return o;
}

nb::dict report_dict(const create_report& r) {
  nb::dict d;
  d["path"] = r.path.string();
  d["backing"] = std::string(to_string(r.backing));
  d["page_size"] = r.page_size;
  d["huge_bytes"] = r.huge_bytes;
  d["placement"] = r.where.to_string();
  d["fallbacks"] = r.fallbacks;
  d["warnings"] = r.warnings;
  d["populate_seconds"] = r.populate_seconds;
  return d;
}

namespace {

// The layout of put's inputs: one array (bundle=false, one tensor with an empty name) or a
// bundle; checks that every input has the bytes its dtype and shape need.
layout layout_of(const std::string& name, const std::vector<input_tensor>& tensors, bool bundle) {
  std::vector<tensor_spec> specs;
  for (const auto& [tname, type, shape, data] : tensors) {
    specs.push_back({tname, parse_dtype_or_throw(type), shape});
  }
  if (!bundle && specs.size() != 1) throw usage_error("put: an array is exactly one tensor");
  const layout l = bundle ? layout::bundle(specs) : layout::array(specs[0].type, specs[0].shape);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& data = std::get<3>(tensors[i]);
    if (data.size() != l.tensors()[i].size)
      throw usage_error("put '" + name + "': tensor '" + specs[i].name + "' has " +
                        std::to_string(data.size()) + " bytes, its dtype and shape need " +
                        std::to_string(l.tensors()[i].size));
  }
  return l;
}

// Copies every input tensor into the draft (pre: d has layout_of(tensors)), in one write so
// that the engine checksums them while it copies.
void copy_in(draft& d, const std::vector<input_tensor>& tensors) {
  const auto& table = d.layout().tensors();
  std::vector<draft::piece> pieces;
  pieces.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& data = std::get<3>(tensors[i]);
    pieces.push_back({table[i].offset, {reinterpret_cast<const std::byte*>(data.data()), data.size()}});
  }
  d.write(pieces);
}

// put: creates the draft, copies every tensor in, publishes.
nb::tuple put(store& s, const std::string& name, const std::vector<input_tensor>& tensors,
              bool bundle, const chosen_placement& where, bool replace,
              bool remove_when_unused, const std::string& metadata) {
  const layout l = layout_of(name, tensors, bundle);
  const create_options opts =
      make_options(where, replace, remove_when_unused, metadata);

  std::optional<segment> seg;
  create_report report;
  {
    nb::gil_scoped_release release;  // the inputs stay referenced by the caller's frame
    draft d = s.create(name, l, opts);
    copy_in(d, tensors);
    report = d.report();
    seg.emplace(std::move(d).publish());
  }
  return nb::make_tuple(std::move(*seg), report_dict(report));
}

// open_or_put of arrays and mappings: the engine's open_or_create, filled from the inputs.
segment open_or_put_tensors(store& s, const std::string& name,
                            const std::vector<input_tensor>& tensors, bool bundle,
                            const chosen_placement& where, double wait_seconds,
                            bool remove_when_unused) {
  const layout l = layout_of(name, tensors, bundle);
  const create_options opts =
      make_options(where, false, remove_when_unused, "");
  const auto wait = std::chrono::milliseconds(static_cast<std::int64_t>(wait_seconds * 1000));
  nb::gil_scoped_release release;
  return s.open_or_create(name, l, opts, [&tensors](draft& d) { copy_in(d, tensors); }, wait);
}

// Thrown through the engine when the Python fill raised; the Python error stays set.
struct fill_raised {};

segment open_or_create(store& s, const std::string& name, const std::string& type,
                       const std::vector<std::uint64_t>& shape, const chosen_placement& where,
                       const nb::callable& fill, double wait_seconds,
                       bool remove_when_unused, const std::string& metadata) {
  const layout l = layout::array(parse_dtype_or_throw(type), shape);
  const create_options opts =
      make_options(where, false, remove_when_unused, metadata);
  const auto wait = std::chrono::milliseconds(static_cast<std::int64_t>(wait_seconds * 1000));
  auto run_fill = [&fill](draft& d) {
    nb::gil_scoped_acquire acquire;
    const auto bytes = d.bytes();
    const std::size_t n = bytes.size();
    try {
      // A writable view of the draft, valid only during this call.
      nb::ndarray<nb::numpy, std::uint8_t, nb::ndim<1>> view(bytes.data(), 1, &n, nb::handle());
      fill(nb::cast(view, nb::rv_policy::reference));
    } catch (nb::python_error& e) {
      e.restore();  // keep the Python exception; unwinding removes the draft
      throw fill_raised{};
    }
  };
  try {
    nb::gil_scoped_release release;
    return s.open_or_create(name, l, opts, run_fill, wait);
  } catch (const fill_raised&) {
    throw nb::python_error();
  }
}

nb::list list_segments(const store& s) {
  std::vector<segment_entry> entries;
  {
    nb::gil_scoped_release release;
    entries = s.list();
  }
  nb::list l;
  for (const auto& e : entries) {
    nb::dict d;
    d["name"] = e.name;
    d["path"] = e.path.string();
    d["mapped_by"] = e.mapped_by;
    d["info"] = info_dict(e.info);
    l.append(d);
  }
  return l;
}

nb::list backings(const store& s) {
  nb::list l;
  for (const auto& b : s.backings()) {
    nb::dict d;
    d["dir"] = b.dir.string();
    d["kind"] = std::string(to_string(b.kind));
    d["page_size"] = b.page_size;
    l.append(d);
  }
  return l;
}

}  // namespace

void bind_store(nb::module_& m) {
  nb::class_<store> store_class(m, "Store", "Where segments live (see onecopy::store).");
  store_class
      .def_static("from_environment", &store::from_environment,
                  nb::call_guard<nb::gil_scoped_release>(),
                  "ONECOPY_DIR when set, else ONECOPY_CONF / /etc/onecopy.conf, else the mounts.")
      .def_static("at", [](const std::string& dir) { return store::at(dir); },
                  nb::call_guard<nb::gil_scoped_release>(), "A store in one directory.")
      .def_prop_ro("backings", &backings)
      .def("attach",
           [](const store& s, const std::string& name, bool populate, bool verify) {
             return s.attach(name, {.populate = populate, .verify = verify});
           },
           nb::arg("name"), nb::arg("populate") = false, nb::arg("verify") = false,
           nb::call_guard<nb::gil_scoped_release>())
      .def("exists", &store::exists, nb::call_guard<nb::gil_scoped_release>())
      .def("path_of", [](const store& s, const std::string& name) { return s.path_of(name).string(); },
           nb::call_guard<nb::gil_scoped_release>())
      .def("remove", &store::remove, nb::call_guard<nb::gil_scoped_release>())
      .def("list", &list_segments)
      .def("put", &put, nb::arg("name"), nb::arg("tensors"), nb::arg("bundle"), nb::arg("where"), nb::arg("replace"),
           nb::arg("remove_when_unused"),
           nb::arg("metadata"))
      .def("open_or_create", &open_or_create, nb::arg("name"), nb::arg("dtype"), nb::arg("shape"),
           nb::arg("where"),
           nb::arg("fill"),
           nb::arg("wait_seconds"), nb::arg("remove_when_unused") = false,
           nb::arg("metadata") = "")
      .def("gc",
           [](store& s) {
             gc_report r;
             {
               nb::gil_scoped_release release;
               r = s.gc();
             }
             nb::dict d;
             nb::list temps, segments, locks;
             for (const auto& p : r.removed_temp_files) temps.append(p.string());
             for (const auto& n : r.removed_unused_segments) segments.append(n);
             for (const auto& p : r.removed_lock_files) locks.append(p.string());
             d["removed_temp_files"] = temps;
             d["removed_unused_segments"] = segments;
             d["removed_lock_files"] = locks;
             return d;
           },
           "Removes temp files of dead creators, unused remove_when_unused segments, stale locks.");
  store_class.def("open_or_put_tensors", &open_or_put_tensors, nb::arg("name"),
                  nb::arg("tensors"), nb::arg("bundle"), nb::arg("where"), nb::arg("wait_seconds"),
                  nb::arg("remove_when_unused") = false);
  bind_load(m, store_class);
}

}  // namespace onecopy::python
