// SPDX-License-Identifier: Apache-2.0
#include "onecopy/error.hpp"

#include <cerrno>


namespace onecopy {

// std::system_error appends ": <strerror>" to what itself.
os_error::os_error(int err, const std::string& what)
    : std::system_error(err, std::generic_category(), what) {}

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
