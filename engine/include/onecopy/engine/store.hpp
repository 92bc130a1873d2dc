// SPDX-License-Identifier: Apache-2.0
// Where segments live: one directory per backing (hugetlbfs per page size, THP tmpfs,
// /dev/shm), each onecopy-$UID/ with mode 0700, and one lock namespace that keeps names unique.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "onecopy/engine/draft.hpp"
#include "onecopy/engine/layout.hpp"
#include "onecopy/engine/options.hpp"
#include "onecopy/engine/segment.hpp"

namespace onecopy {

/// One directory segments can be created in.
struct backing_info {
  std::filesystem::path dir;  ///< the store directory (…/onecopy-$UID, or ONECOPY_DIR)
  backing_kind kind = backing_kind::directory;
  std::uint64_t page_size = 0;  ///< pages its files get
};

/// A segment as `ls` shows it (read from its header without mapping the data).
struct segment_entry {
  std::string name;
  std::filesystem::path path;
  segment_info info;
  std::vector<int> mapped_by;  ///< PIDs that map it now
  std::string replica_of;      ///< for a replica file "w@node1": "w"; else ""
  int replica_node = -1;       ///< for a replica file "w@node1": 1; else -1
};

/// A file in the store that is not a readable segment (temp file, corrupt file).
struct store_problem {
  std::filesystem::path path;
  std::string what;
  /// Not a file onecopy made: a FIFO, socket, device, symlink or directory where a segment or
  /// lock file belongs, or a file of another owner or writable by others. Never opened.
  bool foreign = false;
};

/// What gc() did.
struct gc_report {
  std::vector<std::filesystem::path> removed_temp_files;
  std::vector<std::string> removed_unused_segments;
  std::vector<std::filesystem::path> removed_lock_files;
  /// Files gc left alone because they are not what belongs there (a FIFO, socket, symlink,
  /// directory… planted where a segment or lock file should be), each with why.
  std::vector<store_problem> skipped;
};

/// Where the store's directories are and where names are locked.
struct store_config {
  /// Mount points (or directories) of the backings, preferred first. Each gets onecopy-$UID/
  /// unless single_directory is set.
  std::vector<std::filesystem::path> roots;
  /// Directory of the name locks (one namespace for all backings).
  std::filesystem::path lock_root;
  /// Use roots[0] itself as the only store directory (ONECOPY_DIR).
  bool single_directory = false;
};

class store {
 public:
  /// The store this process should use: ONECOPY_DIR when set; else the roots in
  /// ONECOPY_CONF (default /etc/onecopy.conf) when it exists; else the hugetlbfs and THP tmpfs
  /// mounts found in /proc/mounts, then /dev/shm.
  /// @throws permission_error when a store directory is not owned by us or not 0700
  [[nodiscard]] static store from_environment();
  /// A store in one directory (created 0700 if missing); its filesystem decides the pages.
  [[nodiscard]] static store at(const std::filesystem::path& dir);
  /// A store with explicit backings.
  [[nodiscard]] static store from_config(const store_config& config);

  store(const store&);
  store& operator=(const store&);
  store(store&&) noexcept;
  store& operator=(store&&) noexcept;
  ~store();

  /// The backings, in the order automatic page selection tries them (largest pages first).
  [[nodiscard]] const std::vector<backing_info>& backings() const noexcept;

  /// Creates a draft: takes the name's lock, picks a backing, sizes and maps a temp file,
  /// applies the NUMA policy, populates every page.
  /// @throws usage_error for a bad name or empty layout; os_error (EEXIST) when the name exists
  ///         and !opts.replace; os_error (EBUSY) when another process is creating it;
  ///         no_space_error / hugepage_pool_error / out_of_memory_error when memory runs out;
  ///         fallback_error when opts.strict and the requested pages are not available
  [[nodiscard]] draft create(std::string_view name, const layout& l, const create_options& opts = {});

  /// Attaches a published segment read-only. For a replicated segment: the replica of
  /// opts.node, else of the caller's current node, else the nearest one (NUMA distance).
  /// @throws os_error (ENOENT) when there is none, or when opts.node names a node without a
  ///         replica; format_error when its file is malformed;
  ///         format_error when opts.verify and the checksum does not match
  [[nodiscard]] segment attach(std::string_view name, const attach_options& opts = {}) const;

  /// True when a published segment of that name exists.
  [[nodiscard]] bool exists(std::string_view name) const;

  /// Attaches name, creating it first if nobody has: exactly one caller runs fill, the others
  /// wait (up to wait) and attach. If the creator dies, a waiter takes over.
  /// @throws timeout_error when another creator holds the name longer than wait
  [[nodiscard]] segment open_or_create(std::string_view name, const layout& l,
                                       const create_options& opts,
                                       const std::function<void(draft&)>& fill,
                                       std::chrono::milliseconds wait = default_wait);

  /// Every published segment, sorted by name.
  [[nodiscard]] std::vector<segment_entry> list() const;
  /// Files that are not readable segments (orphaned temp files, corrupt files).
  [[nodiscard]] std::vector<store_problem> problems() const;
  /// The path of a published segment. @throws os_error (ENOENT) when there is none
  [[nodiscard]] std::filesystem::path path_of(std::string_view name) const;
  /// PIDs whose address space maps the segment file at path.
  [[nodiscard]] static std::vector<int> pids_mapping(const std::filesystem::path& path);

  /// The store's private directory for runtime files: the name locks and the `onecopy serve`
  /// socket (<store dir>/.locks, mode 0700; created if missing).
  /// @throws permission_error when it exists but is not private to us; os_error from mkdir
  [[nodiscard]] std::filesystem::path runtime_dir() const;

  /// Unlinks a segment's name (and its replicas). Processes that map it keep their mapping.
  /// @throws os_error (ENOENT) when there is none
  void remove(std::string_view name);
  /// Removes temp files whose creator is gone, remove_when_unused segments nobody maps, and
  /// lock files of names that are not in use.
  gc_report gc();

  struct impl;
  /// Internal: built by the engine (impl is not defined outside it).
  explicit store(std::unique_ptr<impl> p) noexcept;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace onecopy
