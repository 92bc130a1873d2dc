// SPDX-License-Identifier: Apache-2.0
// Host segments through `onecopy serve`: one connection per call. A host segment's mapping
// needs neither the connection nor the server once made (PROTOCOL.md, "Leases"), so the
// connection closes on return; the server keeps its sealed copies whatever their leases.
#include "serve_binding.hpp"

#include <string>

#include <nanobind/stl/string.h>

#include "onecopy/serve/client.hpp"

namespace nb = nanobind;

namespace onecopy::python {
namespace {

segment attach(const std::string& name, const std::string& socket) {
  nb::gil_scoped_release release;
  return serve::client::connect(socket).attach(name);
}

// Replies as JSON text: the package parses them (json.loads).
std::string seal(const std::string& name, bool keep_store_file, const std::string& socket) {
  nb::gil_scoped_release release;  // the copy takes a pass over the bytes
  return serve::client::connect(socket).seal(name, {.keep_store_file = keep_store_file}).dump();
}

std::string unseal(const std::string& name, const std::string& socket) {
  nb::gil_scoped_release release;
  return serve::client::connect(socket).unseal(name).dump();
}

}  // namespace

void bind_serve(nb::module_& m) {
  m.def("serve_attach", &attach, nb::arg("name"), nb::arg("socket") = "",
        "Attaches the host segment name through `onecopy serve` (socket; '' = ONECOPY_SOCKET or the "
        "store's serve.sock): its sealed copy when it holds one, else the store's file. Raises "
        "OSError when no server runs, FileNotFoundError when it has no such segment.");
  m.def("serve_seal", &seal, nb::arg("name"), nb::arg("keep_store_file") = false, nb::arg("socket") = "",
        "Asks `onecopy serve` to hold name as a sealed memfd copy (serve::client::seal); the reply "
        "as JSON text.");
  m.def("serve_unseal", &unseal, nb::arg("name"), nb::arg("socket") = "",
        "Asks `onecopy serve` to drop its sealed copy of name; the reply as JSON text.");
}

}  // namespace onecopy::python
