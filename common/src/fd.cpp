// SPDX-License-Identifier: Apache-2.0
#include "onecopy/sys/fd.hpp"

#include <sys/mman.h>
#include <unistd.h>

namespace onecopy::sys {

void unique_fd::reset() noexcept {
  if (fd_ >= 0) {
    // close() must not be retried on EINTR on Linux: the fd is gone either way.
    ::close(fd_);
    fd_ = -1;
  }
}

void mapping::reset() noexcept {
  if (addr_ != nullptr) {
    ::munmap(addr_, length_);
    addr_ = nullptr;
    length_ = 0;
  }
}

}  // namespace onecopy::sys
