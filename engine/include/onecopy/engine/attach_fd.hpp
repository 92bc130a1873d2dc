// SPDX-License-Identifier: Apache-2.0
// Attaching a published segment from an open file descriptor instead of a name: for processes
// that received the fd from `onecopy serve` and cannot see the store directory (another mount
// namespace, a container with its own /dev/shm). Same validation and read-only mapping as
// store::attach; no second copy.
#pragma once

#include <string_view>

#include "onecopy/engine/options.hpp"
#include "onecopy/engine/segment.hpp"

namespace onecopy {

/// Attaches the segment file open at fd (read-only or read-write; it is mapped PROT_READ).
/// fd is duplicated (O_CLOEXEC) and the caller keeps its own. The segment holds a shared
/// flock on its duplicate's open file description, like any reader; its path() is
/// "/proc/self/fd/<duplicate>", which stays valid while it lives.
/// @param name what name() reports (e.g. the name the server was asked for)
/// @throws os_error naming the fd (EBADF: not open, or not open for reading; fcntl errors);
///         format_error when the file is not a valid segment; as store::attach for opts
[[nodiscard]] segment attach_fd(std::string_view name, int fd, const attach_options& opts = {});

}  // namespace onecopy
