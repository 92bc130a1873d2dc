// SPDX-License-Identifier: Apache-2.0
// Internal. A store's backing directories kept open for attach (see directory_cache).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "onecopy/sys/fd.hpp"

namespace onecopy::detail {

/// Each backing directory of a store, opened and checked private (open_private_dir) on first
/// use and then kept open, so that attaching a segment costs one openat in it rather than an
/// open, fstat and close of the directory as well. A directory removed since (st_nlink 0) is
/// opened again. Shared by copies of a store; safe to use from several threads.
class directory_cache {
 public:
  /// An open directory and the user it was checked to belong to (files in it must too: passing
  /// that user spares each attach a geteuid call, ~0.1 µs here).
  struct open_directory {
    sys::unique_fd fd;
    std::uint32_t owner;
  };
  using handle = std::shared_ptr<const open_directory>;
  /// The open directory number index (path dir); null when dir does not exist (not kept, so a
  /// directory created later is found). With reopen, a kept descriptor is replaced by a fresh one.
  /// @param file the segment file being looked for, named in an error (e.g. out of descriptors)
  /// @throws as open_private_dir
  [[nodiscard]] handle get(std::size_t index, const std::filesystem::path& dir, std::string_view file,
                           bool reopen = false);
  /// Whether the directory open as h was removed since it was opened.
  [[nodiscard]] static bool removed(const handle& h);

 private:
  std::mutex mutex_;
  std::vector<handle> dirs_;
};

}  // namespace onecopy::detail
