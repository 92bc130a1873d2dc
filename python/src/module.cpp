// SPDX-License-Identifier: Apache-2.0
// onecopy._core: the engine for Python. The public API is the pure-Python package around it
// (python/onecopy/); this module stays thin.
#include <nanobind/nanobind.h>

#include "device_binding.hpp"
#include "errors.hpp"
#include "plan_binding.hpp"
#include "segment_binding.hpp"
#include "serve_binding.hpp"
#include "store_binding.hpp"
#include "system_binding.hpp"

NB_MODULE(_core, m) {
  m.doc() = "onecopy engine bindings (internal; use the onecopy package)";
  onecopy::python::bind_errors(m);
  onecopy::python::bind_segment(m);
  onecopy::python::bind_store(m);
  onecopy::python::bind_system(m);
  onecopy::python::bind_plan(m);
  onecopy::python::bind_device(m);
  onecopy::python::bind_serve(m);
}
