// SPDX-License-Identifier: Apache-2.0
// Internal. flock(2) locks on files that are never unlinked while in use: after locking, the
// path must still name the inode we locked (open–flock–fstat/stat loop), or we retry.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>

#include "onecopy/sys/fd.hpp"

namespace onecopy::detail {

class file_lock {
 public:
  /// Exclusive lock on path (created 0600 if missing), or std::nullopt when another open file
  /// description holds it. Path's directory must exist; the lock file is opened inside it
  /// without following symlinks or blocking, and must be a regular file of ours.
  /// @throws os_error naming the path for anything but "held elsewhere" (a FIFO, symlink,
  ///   socket or directory in its place: "it is a FIFO, not a regular file")
  [[nodiscard]] static std::optional<file_lock> try_exclusive(const std::filesystem::path& path);
  /// Exclusive lock, polling until deadline.
  /// @throws timeout_error naming the path when the deadline passes
  [[nodiscard]] static file_lock exclusive(const std::filesystem::path& path,
                                           std::chrono::steady_clock::time_point deadline);

  file_lock(file_lock&&) noexcept = default;
  file_lock& operator=(file_lock&&) noexcept = default;
  ~file_lock() = default;  // closing the fd releases the lock

  /// Unlinks the lock file while still holding the lock, then releases it. Safe: anyone who
  /// opened the old inode notices after locking that the path moved on, and retries.
  void remove_file() noexcept;

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  /// True when the lock file was there before this lock took it: its last holder may have
  /// died with work half done (a temp file), since clean holders remove their lock file.
  [[nodiscard]] bool inherited() const noexcept { return inherited_; }

 private:
  file_lock(sys::unique_fd fd, sys::unique_fd dir, std::filesystem::path path, bool inherited)
      : fd_(std::move(fd)), dir_(std::move(dir)), path_(std::move(path)), inherited_(inherited) {}
  sys::unique_fd fd_;
  sys::unique_fd dir_;  // the lock directory, for remove_file()
  std::filesystem::path path_;
  bool inherited_ = false;
};

}  // namespace onecopy::detail
