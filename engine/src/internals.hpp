// SPDX-License-Identifier: Apache-2.0
// Internal. The state behind store, draft and segment, shared by their implementation files.
#pragma once

#include <atomic>
#include <filesystem>
#include <mutex>
#include <unordered_map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "file_lock.hpp"
#include "onecopy/engine/draft.hpp"
#include "onecopy/engine/segment.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/sys/fd.hpp"

namespace onecopy {

struct store::impl {
  store_config config;
  std::vector<backing_info> backings;  // sorted for automatic page selection
  std::filesystem::path lock_dir;

  [[nodiscard]] std::filesystem::path lock_path(std::string_view name) const;
  /// Creates the lock directory (and the store directory holding it) private, if missing.
  void ensure_lock_dir() const;
  /// Path of the published file called file_name ("w" or "w@node1"), if any backing has it.
  [[nodiscard]] std::optional<std::filesystem::path> find(std::string_view file_name) const;
  /// Opens the published file called file_name read-only on the first backing that has it:
  /// per backing, its directory (checked private through the fd) and the file inside it
  /// (never through a symlink, never blocking, a regular file of ours).
  /// @throws permission_error for a store directory that is not private and ours
  [[nodiscard]] std::optional<std::pair<std::filesystem::path, sys::unique_fd>> open_published(
      std::string_view file_name) const;
  /// Every published file of a segment: the name itself and its replicas "name@nodeN".
  [[nodiscard]] std::vector<std::filesystem::path> files_of(std::string_view name) const;
};

struct segment::impl {
  std::string name;
  std::filesystem::path path;
  sys::unique_fd fd;  // O_RDONLY; only with attach_options::keep_fd or attach_fd (else -1)
  sys::mapping map;
  std::uint64_t device = 0;  // identity of the mapped file
  std::uint64_t inode = 0;
  segment_info info;
  // Name → table position, built on the first lookup: a model's 20 000 tensors looked up one
  // by one would otherwise cost a quadratic scan.
  mutable std::once_flag index_once;
  mutable std::unordered_map<std::string_view, std::size_t> index;
};

struct draft::impl {
  std::string name;
  class layout lay;
  create_options opts;
  std::optional<detail::file_lock> lock;  // the name's lock, held until publish or destruction
  backing_info backing;
  std::filesystem::path temp_path;
  std::filesystem::path final_path;
  std::vector<std::filesystem::path> replaced;  // published files publish() replaces
  sys::unique_fd fd;  // O_RDWR on the temp file
  sys::mapping map;   // the whole file, shared, writable
  segment_info info;  // planned offsets; completed by publish()
  create_report report;
  bool published = false;
  /// A replicated draft: the other nodes' replicas (this impl is the first node's). They hold
  /// no lock of their own: this one holds the name's lock for all of them.
  std::vector<std::unique_ptr<draft::impl>> replicas;

  ~impl();
};

namespace detail {
/// Opens, locks (shared), maps and validates a published segment file.
/// @throws os_error/format_error naming path
[[nodiscard]] segment attach_file(std::string name, const std::filesystem::path& path,
                                  const attach_options& opts);
/// The same for a file already open for reading (fd); path names it in messages and path().
[[nodiscard]] segment attach_open(std::string name, const std::filesystem::path& path, sys::unique_fd fd,
                                  const attach_options& opts);
}  // namespace detail

}  // namespace onecopy
