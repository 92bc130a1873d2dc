// SPDX-License-Identifier: Apache-2.0
#include "onecopy/error.hpp"

#include <cctype>
#include <cerrno>
#include <utility>
#include <string_view>

#if defined(__GNUC__)
#define ONECOPY_NO_VPTR_CHECK __attribute__((no_sanitize("vptr")))
#else
#define ONECOPY_NO_VPTR_CHECK
#endif

namespace onecopy {

namespace {

// "call(" at the start of what: the call's name, or "" when what does not start that way.
std::string call_of(const std::string& what) {
  std::size_t n = 0;
  while (n < what.size() && (std::isalnum(static_cast<unsigned char>(what[n])) != 0 || what[n] == '_')) ++n;
  return n > 0 && n < what.size() && what[n] == '(' ? what.substr(0, n) : std::string();
}

// Calls whose first argument is a path even when it is relative (a user's "model.safetensors").
bool takes_path(std::string_view call) {
  for (std::string_view c : {"open", "stat", "lstat", "fstat", "read", "pread", "write", "pwrite", "mkdir", "unlink",
                             "rename", "opendir", "fdopendir", "readdir", "chmod", "fchmod", "ftruncate"})
    if (call == c) return true;
  return false;
}

// The call's first argument when it is a path: up to ", " or the ")" that closes the call
// (parentheses inside the path, "model (1).bin", are kept).
std::filesystem::path path_of(const std::string& what, const std::string& call) {
  const std::size_t open = call.size();
  if (open + 1 >= what.size() || (what[open + 1] != '/' && !takes_path(call))) return {};
  int depth = 0;
  for (std::size_t i = open + 1; i < what.size(); ++i) {
    if (what[i] == '(') ++depth;
    if (what[i] == ')' && depth-- == 0) return what.substr(open + 1, i - open - 1);
    if (depth == 0 && what.compare(i, 2, ", ") == 0) return what.substr(open + 1, i - open - 1);
  }
  return {};
}

// The path in what when it starts "call(path".
std::filesystem::path path_in(const std::string& what) {
  const std::string call = call_of(what);
  return call.empty() ? std::filesystem::path() : path_of(what, call);
}

}  // namespace

// std::system_error appends ": <strerror>" to what itself. No vptr check here: UBSan checks
// `this` on each member initialisation by probing memory through a pipe, which fails by itself
// when the error being built is that no descriptor is left (fd_limit_error; see
// ResourceTest.RunningOutOfFileDescriptorsIsNamed). The members are plain strings.
ONECOPY_NO_VPTR_CHECK os_error::os_error(int err, const std::string& what)
    : std::system_error(err, std::generic_category(), what), call_(call_of(what)), path_(path_in(what)) {}

ONECOPY_NO_VPTR_CHECK os_error::os_error(int err, const std::string& what, std::filesystem::path path)
    : std::system_error(err, std::generic_category(), what), call_(call_of(what)), path_(std::move(path)) {}

void throw_os_error(int err, const std::string& what) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      throw no_space_error(err, what);
    case ENOMEM:
      throw out_of_memory_error(err, what);
    case EMFILE:
    case ENFILE:
      throw fd_limit_error(err, what);
    case EACCES:
    case EPERM:
    case EROFS:
      throw permission_error(err, what);
    default:
      throw os_error(err, what);
  }
}

}  // namespace onecopy
