// SPDX-License-Identifier: Apache-2.0
// Engine exception → Python exception. The message is the engine's what(), which names the
// object and the cause; OSErrors also carry errno (so OSError's own errno → subclass mapping
// gives FileNotFoundError, FileExistsError, PermissionError, ...).
#include "errors.hpp"

#include <cerrno>
#include <filesystem>
#include <string>

#include "onecopy/error.hpp"

namespace nb = nanobind;

namespace onecopy::python {
namespace {

// Owned by the module object (attributes); these raw pointers only borrow them.
PyObject* format_error_type = nullptr;
PyObject* fallback_error_type = nullptr;
PyObject* no_space_error_type = nullptr;
PyObject* hugepage_pool_error_type = nullptr;
PyObject* out_of_memory_error_type = nullptr;

PyObject* new_type(nb::module_& m, const char* name, const char* doc, PyObject* base) {
  const std::string qualified = std::string("onecopy.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base, nullptr);
  if (!type) throw nb::python_error();
  m.attr(name) = nb::steal(type);
  return type;
}

// type(errno, message[, filename]): OSError's constructor sets errno, strerror (the engine's
// message: call, object and cause) and filename; called on OSError itself it picks the builtin
// subclass for that errno (FileNotFoundError, PermissionError, ...).
void raise_os(PyObject* type, int err, const char* message, const std::filesystem::path& path = {}) {
  // The file name as os.fsdecode gives it (surrogate escapes for bytes that are not UTF-8).
  nb::object value = nb::steal(path.empty() ? Py_BuildValue("(is)", err, message)
                                            : Py_BuildValue("(isN)", err, message, PyUnicode_DecodeFSDefault(path.c_str())));
  if (!value.is_valid()) return;  // MemoryError already set
  PyErr_SetObject(type, value.ptr());
}

void translate(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const hugepage_pool_error& e) {
    raise_os(hugepage_pool_error_type, e.err(), e.what(), e.path());
  } catch (const no_space_error& e) {
    raise_os(no_space_error_type, e.err(), e.what(), e.path());
  } catch (const out_of_memory_error& e) {
    raise_os(out_of_memory_error_type, e.err(), e.what(), e.path());
  } catch (const permission_error& e) {
    raise_os(PyExc_PermissionError, e.err(), e.what(), e.path());
  } catch (const os_error& e) {
    raise_os(PyExc_OSError, e.err(), e.what(), e.path());
  } catch (const usage_error& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const format_error& e) {
    PyErr_SetString(format_error_type, e.what());
  } catch (const fallback_error& e) {
    PyErr_SetString(fallback_error_type, e.what());
  } catch (const timeout_error& e) {
    raise_os(PyExc_TimeoutError, ETIMEDOUT, e.what());
  }
}

}  // namespace

void bind_errors(nb::module_& m) {
  format_error_type = new_type(m, "FormatError",
                               "A segment file (or input) is malformed; the message names the "
                               "file and the field.", PyExc_ValueError);
  fallback_error_type = new_type(m, "FallbackError",
                                 "strict=True and the requested pages could not be had.",
                                 PyExc_RuntimeError);
  no_space_error_type = new_type(m, "NoSpaceError",
                                 "The store's filesystem has no room for the segment "
                                 "(errno ENOSPC or EFAULT).", PyExc_OSError);
  hugepage_pool_error_type = new_type(m, "HugePagePoolError",
                                      "A huge-page pool holds fewer free pages than the segment "
                                      "needs.", PyExc_OSError);
  out_of_memory_error_type = new_type(m, "OutOfMemoryError",
                                      "Not enough memory for a mapping (errno ENOMEM).",
                                      PyExc_OSError);
  nb::register_exception_translator(translate);
}

}  // namespace onecopy::python
