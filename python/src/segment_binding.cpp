// SPDX-License-Identifier: Apache-2.0
// The Segment class. export() hands out nanobind ndarrays (buffer protocol + __dlpack__) of
// the mapped bytes, read-only, whose owner is the Segment object: the mapping lives as long as
// any numpy array or DLPack capsule made from it.
#include "segment_binding.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "convert.hpp"
#include "onecopy/engine/segment.hpp"
#include "onecopy/sys/calls.hpp"

namespace nb = nanobind;

namespace onecopy::python {
namespace {

using exported = nb::ndarray<nb::array_api, nb::ro>;

// "" names the single array of a non-bundle segment.
tensor_view find_tensor(const segment& s, const std::string& tensor) {
  return tensor.empty() ? s.array() : s.tensor(tensor);
}

exported export_tensor(const segment& s, const std::string& tensor, bool storage) {
  const tensor_view t = find_tensor(s, tensor);
  std::vector<std::size_t> shape(t.shape.begin(), t.shape.end());
  // Owner left empty: reference_internal makes the Segment object the owner.
  return exported(t.bytes.data(), shape.size(), shape.data(), nb::handle(), nullptr,
                  dlpack_dtype(t.type, storage), nb::device::cpu::value);
}

}  // namespace

void bind_segment(nb::module_& m) {
  nb::class_<segment>(m, "Segment", nb::is_weak_referenceable(),
                      "An attached segment: a read-only mapping that lives as long as this "
                      "object and every array exported from it.")
      .def_prop_ro("name", &segment::name)
      .def_prop_ro("path", [](const segment& s) { return s.path().string(); })
      .def_prop_ro("fd", &segment::fd)
      .def_prop_ro("is_bundle", [](const segment& s) { return s.info().bundle; })
      .def_prop_ro("nbytes", [](const segment& s) { return s.info().data_size; })
      .def_prop_ro("data_address",
                   [](const segment& s) { return reinterpret_cast<std::uintptr_t>(s.bytes().data()); })
      .def_prop_ro("identity",
                   [](const segment& s) {
                     const auto [device, inode] = s.file_identity();
                     return nb::make_tuple(device, inode);
                   },
                   "(st_dev, st_ino) of the mapped file.")
      .def("info", [](const segment& s) { return info_dict(s.info()); })
      .def("tensors",
           [](const segment& s) {
             nb::list l;
             for (const auto& t : s.info().tensors) l.append(tensor_dict(t));
             return l;
           })
      .def("export", &export_tensor, nb::arg("tensor"), nb::arg("storage"),
           nb::rv_policy::reference_internal,
           "A read-only ndarray (buffer protocol, __dlpack__) of one tensor ('' for the single "
           "array). storage=True exports bf16/F8 as unsigned integers of the same width.")
      .def("address",
           [](const segment& s, const std::string& tensor) {
             return reinterpret_cast<std::uintptr_t>(find_tensor(s, tensor).bytes.data());
           })
      .def("verify", [](const segment& s) { return s.verify(); },
           nb::call_guard<nb::gil_scoped_release>(),
           "Recomputes the checksum (parallel; touches every page) and compares.")
      .def("node_histogram",
           [](const segment& s) {
             std::vector<node_pages> h;
             {
               nb::gil_scoped_release release;
               h = s.node_histogram();
             }
             nb::dict d;
             for (const auto& n : h) d[nb::int_(n.node)] = n.pages;
             return d;
           });
}

}  // namespace onecopy::python
