// SPDX-License-Identifier: Apache-2.0
// Tensor files → segment for Python (see load_binding.hpp). Planning reads only headers (and a
// model directory's small files); creating and waiting run with the GIL released.
#include "load_binding.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "convert.hpp"
#include "onecopy/engine/formats/load.hpp"
#include "onecopy/engine/store.hpp"
#include "store_binding.hpp"

namespace nb = nanobind;

namespace onecopy::python {
namespace {

formats::load_plan plan_files(const std::vector<std::string>& inputs) {
  const std::vector<std::filesystem::path> paths(inputs.begin(), inputs.end());
  return formats::plan_load(paths, {.keep_small_files = true, .record_source = true});
}

nb::tuple put_files(store& s, const std::string& name, const formats::load_plan& plan,
                    const chosen_placement& where, bool replace,
                    bool remove_when_unused) {
  const create_options opts =
      make_options(where, replace, remove_when_unused, "");
  std::optional<formats::load_result> r;
  {
    nb::gil_scoped_release release;
    r.emplace(formats::load_into(s, name, plan, opts));
  }
  return nb::make_tuple(std::move(r->segment), report_dict(r->report));
}

segment open_or_put_files(store& s, const std::string& name, const formats::load_plan& plan,
                          const chosen_placement& where, double wait_seconds,
                          bool remove_when_unused) {
  const create_options opts =
      make_options(where, false, remove_when_unused, plan.metadata);
  const auto wait = std::chrono::milliseconds(static_cast<std::int64_t>(wait_seconds * 1000));
  nb::gil_scoped_release release;
  return s.open_or_create(name, plan.layout, opts,
                          [&plan, &opts](draft& d) { formats::fill(d, plan, opts.threads); }, wait);
}

}  // namespace

void bind_load(nb::module_& m, nb::class_<store>& store_class) {
  nb::class_<formats::load_plan>(m, "LoadPlan", "Which files a load reads and the bundle it makes.")
      .def_prop_ro("nbytes", &formats::load_plan::bytes)
      .def_prop_ro("source", [](const formats::load_plan& p) { return p.source; },
                   "The sources' fingerprint (JSON text).")
      .def_prop_ro("notes", [](const formats::load_plan& p) { return p.notes; })
      .def_prop_ro("warnings", [](const formats::load_plan& p) { return p.warnings; })
      .def_prop_ro("tensors",
                   [](const formats::load_plan& p) {
                     nb::list l;
                     for (const auto& t : p.layout.tensors()) l.append(tensor_dict(t));
                     return l;
                   },
                   "The segment's tensor table to be: {name, dtype, shape, offset, nbytes}.")
      .def_prop_ro("is_bundle", [](const formats::load_plan& p) { return p.layout.is_bundle(); });
  m.def("plan_files", &plan_files, nb::arg("inputs"), nb::call_guard<nb::gil_scoped_release>(),
        "Resolves and validates the inputs (headers only; a directory's small files are kept).");
  store_class
      .def("put_files", &put_files, nb::arg("name"), nb::arg("plan"), nb::arg("where"), nb::arg("replace"),
           nb::arg("remove_when_unused"))
      .def("open_or_put_files", &open_or_put_files, nb::arg("name"), nb::arg("plan"),
           nb::arg("where"),
           nb::arg("wait_seconds"), nb::arg("remove_when_unused") = false);
}

}  // namespace onecopy::python
