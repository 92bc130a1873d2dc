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
  // The lock directory is opened once and everything happens relative to it: the lock file is
  // never followed through a symlink, never opened blocking (a FIFO in its place is refused,
  // not waited on), and never created anywhere but in that directory.
  const auto dir_path = path.parent_path();
  const std::string name = path.filename().string();
  sys::unique_fd dir = sys::open_directory_if_exists(dir_path);
  if (!dir) throw os_error(ENOENT, fmt::format("lock directory {} does not exist", dir_path.string()));
  for (;;) {
    // Made here, or found: a lock file found is one a holder still uses, or one whose creator
    // died (publish, remove and dropped drafts unlink theirs).
    bool inherited = false;
    sys::unique_fd fd;
    try {
      fd = sys::open_regular_at(dir.get(), dir_path, name, O_RDWR | O_CREAT | O_EXCL, 0600);
    } catch (const os_error& e) {
      if (e.err() != EEXIST) throw;
      inherited = true;
      fd = sys::open_regular_at(dir.get(), dir_path, name, O_RDWR);
      if (!fd) continue;  // removed in between: make it anew
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) return std::nullopt;
      if (errno == EINTR) continue;
      sys::throw_errno(fmt::format("flock({}, LOCK_EX)", path.string()));
    }
    // Whoever removes a lock file does so while holding it: if the name still names the inode
    // we locked, ours is "the" lock; else it was removed (and maybe recreated) meanwhile: retry.
    const auto held = sys::fstat(fd.get(), path);
    const auto now = sys::stat_at_if_exists(dir.get(), dir_path, name);
    if (now && now->device == held.device && now->inode == held.inode)
      return file_lock(std::move(fd), std::move(dir), path, inherited);
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
  ::unlinkat(dir_.get(), path_.filename().c_str(), 0);
  fd_.reset();
  dir_.reset();
}

}  // namespace onecopy::detail
