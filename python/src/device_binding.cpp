// SPDX-License-Identifier: Apache-2.0
// The Python side of serve::client::server_device_array. A DeviceArray owns the client
// connection (the lease) and the imported device array; the tensors it exports over DLPack
// (kDLCUDA) keep it alive, so the mapping and the lease last as long as any tensor over them.
// Nothing here calls CUDA until serve_device_array() is called: importing the module, or asking
// a server that has no GPU, never touches the driver.
#include "device_binding.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "convert.hpp"
#include "onecopy/error.hpp"
#include "onecopy/serve/client.hpp"

namespace nb = nanobind;

namespace onecopy::python {
namespace {

// Members in this order so that the array (its mapping) goes before the connection (its lease).
struct leased_device_array {
  serve::client client;
  gpu::device_array array;
};

using exported = nb::ndarray<nb::ro>;

// The pointer as an integer, for interfaces that take addresses (never dereferenced here).
std::uintptr_t address(const std::byte* p) { return reinterpret_cast<std::uintptr_t>(p); }

// A legacy-IPC array whose server has gone may point at freed memory: refuse to hand it out.
const gpu::device_array& usable(const leased_device_array& a) {
  if (!a.array.valid())
    throw std::runtime_error("the device array's server (onecopy serve) has gone: its legacy-IPC memory may be freed");
  return a.array;
}

leased_device_array connect_and_import(const std::string& name, int device, const std::string& socket) {
  nb::gil_scoped_release release;  // a first device copy can take the server seconds to make
  auto c = serve::client::connect(socket);
  auto arr = c.server_device_array(name, device);
  return {std::move(c), std::move(arr)};
}

exported export_tensor(const leased_device_array& a, const std::string& tensor, bool storage) {
  const tensor_view t = usable(a).tensor(tensor);
  std::vector<std::size_t> shape(t.shape.begin(), t.shape.end());
  // Owner left empty: reference_internal makes the DeviceArray object the owner.
  return exported(t.bytes.data(), shape.size(), shape.data(), nb::handle(), nullptr,
                  dlpack_dtype(t.type, storage), nb::device::cuda::value, a.array.device());
}

nb::list tensor_list(const leased_device_array& a) {
  nb::list l;
  for (const auto& t : a.array.tensors()) {
    nb::dict d;
    d["name"] = std::string(t.name);
    d["dtype"] = std::string(dtype_name(t.type));
    d["shape"] = nb::tuple(nb::cast(std::vector<std::uint64_t>(t.shape.begin(), t.shape.end())));
    d["offset"] = address(t.bytes.data()) - address(a.array.data());
    d["nbytes"] = t.bytes.size();
    l.append(d);
  }
  return l;
}

// Version 3 of the CUDA Array Interface over the whole data as bytes, read-only (consumers that
// honour the flag, e.g. CuPy and Numba, refuse writes; torch refuses read-only arrays: it takes
// the tensors through export() and DLPack instead).
nb::dict cuda_array_interface(const leased_device_array& a) {
  const auto& arr = usable(a);
  nb::dict d;
  d["version"] = 3;
  d["shape"] = nb::make_tuple(arr.size());
  d["typestr"] = "|u1";
  d["data"] = nb::make_tuple(address(arr.data()), true);
  d["strides"] = nb::none();
  d["stream"] = nb::none();  // the import is complete: no stream to wait on
  return d;
}

}  // namespace

void bind_device(nb::module_& m) {
  nb::class_<leased_device_array>(m, "DeviceArray",
                                  "A read-only device copy of a segment made by `onecopy serve` and "
                                  "imported here; holds the connection (the lease) while it lives.")
      .def_prop_ro("method", [](const leased_device_array& a) { return std::string(gpu::to_string(a.array.method())); },
                   "'vmm' (fd import) or 'legacy-ipc'.")
      .def_prop_ro("notes", [](const leased_device_array& a) { return a.array.reasons(); },
                   "The server's remarks on the copy (fallbacks it took), one line each.")
      .def_prop_ro("read_only", [](const leased_device_array& a) { return a.array.read_only(); },
                   "True when the hardware refuses writes (VMM PROT_READ).")
      .def_prop_ro("device", [](const leased_device_array& a) { return a.array.device(); })
      .def_prop_ro("nbytes", [](const leased_device_array& a) { return a.array.size(); })
      .def_prop_ro("checksum", [](const leased_device_array& a) { return a.array.checksum(); })
      .def_prop_ro("generation", [](const leased_device_array& a) { return a.array.generation(); })
      .def_prop_ro("data_address", [](const leased_device_array& a) { return address(a.array.data()); },
                   "The device pointer to the data (never read it on the host).")
      .def_prop_ro("__cuda_array_interface__", &cuda_array_interface)
      .def("valid", [](const leased_device_array& a) { return a.array.valid(); },
           "False once a legacy-IPC array's server has gone (its memory may be freed).")
      .def("server_alive", [](const leased_device_array& a) { return a.client.server_alive(); })
      .def("tensors", &tensor_list, "The tensor table: name, dtype, shape, offset, nbytes.")
      .def("export", &export_tensor, nb::arg("tensor"), nb::arg("storage"), nb::rv_policy::reference_internal,
           "A read-only kDLCUDA ndarray (__dlpack__) of one tensor. storage=True exports bf16/F8 "
           "as unsigned integers of the same width.");

  m.def("serve_device_array", &connect_and_import, nb::arg("name"), nb::arg("device"), nb::arg("socket") = "",
        "Connects to `onecopy serve` (socket; '' = ONECOPY_SOCKET or the store's serve.sock) and "
        "imports its device copy of segment name on cuda:device. Raises OSError naming the socket "
        "when no server runs, FileNotFoundError when it has no such segment, RuntimeError with "
        "the server's or this process's reason when there is no usable GPU or the import fails.");
  m.def("serve_socket_path", [] { return serve::default_socket_path().string(); },
        "The socket serve_device_array('', ...) connects to.");
}

}  // namespace onecopy::python
