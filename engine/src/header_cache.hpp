// SPDX-License-Identifier: Apache-2.0
// Internal. The headers a store has read and validated, kept per file, so that attaching an
// unchanged file again maps it without reading and checking its header again.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "onecopy/engine/segment_info.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy::detail {

/// Validated headers by file identity (device, inode), for files on tmpfs and hugetlbfs only:
/// those number inodes from a counter, so a removed file's number does not come back for a new
/// file (disk filesystems reuse it at once, within one tick of their coarse timestamps).
/// An entry is used only while the file's size, mtime and ctime are still those it was read at:
/// a published file is never written again (0444; replacing renames a new file over it), and any
/// write, truncation or chmod changes its ctime, so a changed file is read and checked again.
/// What this cannot see is a change through a writable mapping (tmpfs and hugetlbfs update no
/// time for those): only the file's owner after a chmod, or root, can make one; `verify` sees it.
/// Bounded (entries and header bytes); safe to use from several threads.
class header_cache {
 public:
  using info_ptr = std::shared_ptr<const segment_info>;
  using path_ptr = std::shared_ptr<const std::filesystem::path>;
  /// A file's checked header and its path (kept too: parsing a std::filesystem::path costs more
  /// than the rest of attaching the file again).
  struct checked {
    info_ptr info;
    path_ptr path;
  };
  /// The header of the published file `file` in dir, open as fd (st: its fstat): the one read
  /// earlier for this unchanged file, else read_segment_header's, then kept.
  /// @throws as read_segment_header
  [[nodiscard]] checked get(int fd, const sys::file_status& st, const std::filesystem::path& dir,
                            std::string_view file, const std::filesystem::path& companion_dir);

 private:
  struct file_id {
    std::uint64_t device;
    std::uint64_t inode;
    bool operator==(const file_id&) const = default;
  };
  struct file_id_hash {
    std::size_t operator()(const file_id& id) const noexcept { return id.inode * 0x9E3779B97F4A7C15ULL ^ id.device; }
  };
  struct entry {
    std::uint64_t size;
    std::int64_t mtime_ns;
    std::int64_t ctime_ns;
    std::string file;  // the name it was found by (a hard link made by hand is another name)
    checked header;
    std::uint64_t last_use;
  };
  // A model's table of 20 000 tensors is a few MiB of header: keep at most this much.
  static constexpr std::size_t max_entries = 256;
  static constexpr std::uint64_t max_header_bytes = 16ULL << 20;

  void evict_for(std::uint64_t bytes);  // pre: mutex_ held

  std::mutex mutex_;
  std::unordered_map<file_id, entry, file_id_hash> entries_;
  std::uint64_t header_bytes_ = 0;  // sum of the entries' region_size
  std::uint64_t uses_ = 0;
};

}  // namespace onecopy::detail
