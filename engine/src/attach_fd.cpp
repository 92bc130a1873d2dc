// SPDX-License-Identifier: Apache-2.0
// attach_fd: store::attach for a descriptor received from elsewhere (see attach_fd.hpp).
#include "onecopy/engine/attach_fd.hpp"

#include <fcntl.h>

#include <cerrno>

#include <fmt/format.h>

#include "internals.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy {

segment attach_fd(std::string_view name, int fd, const attach_options& opts) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) sys::throw_errno(fmt::format("attach segment '{}': fcntl(fd {}, F_GETFL)", name, fd));
  if ((flags & O_ACCMODE) == O_WRONLY)
    throw os_error(EBADF, fmt::format("attach segment '{}': fd {} is open for writing only", name, fd));
  const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) sys::throw_errno(fmt::format("attach segment '{}': fcntl(fd {}, F_DUPFD_CLOEXEC)", name, fd));
  sys::unique_fd own(dup);
  const std::filesystem::path path = fmt::format("/proc/self/fd/{}", dup);
  attach_options keep = opts;
  keep.keep_fd = true;  // path names this descriptor: it must stay open
  // A file on 1 GiB pages keeps its header in a companion, in the lock directory of the store
  // that published it: this environment's store (ONECOPY_DIR, or the configured lock root).
  std::filesystem::path companion_dir;
  if (header_in_companion(sys::fstat(own.get(), path).block_size)) companion_dir = store::from_environment().runtime_dir();
  return detail::attach_open(std::string(name), path, std::move(own), keep, companion_dir);
}

}  // namespace onecopy
