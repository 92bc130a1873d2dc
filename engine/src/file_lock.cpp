// SPDX-License-Identifier: Apache-2.0
#include "file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy::detail {

std::optional<file_lock> file_lock::try_exclusive(const std::filesystem::path& path) {
  for (;;) {
    sys::unique_fd fd = sys::open(path, O_RDWR | O_CREAT, 0600);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) return std::nullopt;
      if (errno == EINTR) continue;
      sys::throw_errno(fmt::format("flock({}, LOCK_EX)", path.string()));
    }
    const auto held = sys::fstat(fd.get(), path);
    const auto now = sys::lstat_if_exists(path);
    if (now && now->device == held.device && now->inode == held.inode)
      return file_lock(std::move(fd), path);
    // The file was removed (and maybe recreated) between our open and flock: retry.
  }
}

file_lock file_lock::exclusive(const std::filesystem::path& path,
                               std::chrono::steady_clock::time_point deadline) {
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (auto lock = try_exclusive(path)) return std::move(*lock);
    if (std::chrono::steady_clock::now() >= deadline)
      throw timeout_error(fmt::format("timed out waiting for the lock {} (another process is "
                                      "creating this segment)", path.string()));
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

void file_lock::remove_file() noexcept {
  if (!fd_) return;
  ::unlink(path_.c_str());
  fd_.reset();
}

void lock_shared(int fd, const std::filesystem::path& name) {
  while (::flock(fd, LOCK_SH) != 0) {
    if (errno == EINTR) continue;
    sys::throw_errno(fmt::format("flock({}, LOCK_SH)", name.string()));
  }
}

bool try_lock_exclusive(int fd, const std::filesystem::path& name) {
  for (;;) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno == EWOULDBLOCK) return false;
    if (errno != EINTR) sys::throw_errno(fmt::format("flock({}, LOCK_EX)", name.string()));
  }
}

}  // namespace onecopy::detail
