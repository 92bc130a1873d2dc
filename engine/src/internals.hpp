// SPDX-License-Identifier: Apache-2.0
// Internal. The state behind store, draft and segment, shared by their implementation files.
#pragma once

#include <atomic>
#include <filesystem>
#include <mutex>
#include <unordered_map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "directory_cache.hpp"
#include "fault_registry.hpp"
#include "file_lock.hpp"
#include "header_cache.hpp"
#include "parallel_read.hpp"
#include "onecopy/engine/draft.hpp"
#include "onecopy/engine/segment.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/sys/calls.hpp"
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
  /// Its fstat goes to status. The directories are kept open (dirs).
  /// @throws permission_error for a store directory that is not private and ours
  struct published_file {
    const backing_info* backing;  // where it was found: backing->dir / the file name
    sys::unique_fd fd;
  };
  [[nodiscard]] std::optional<published_file> open_published(std::string_view file_name,
                                                              sys::file_status& status) const;
  /// The header cache for a file of a backing of this kind; null where it cannot be trusted:
  /// tmpfs and hugetlbfs never hand a removed file's inode number to a new file soon, other
  /// filesystems do, at once, and their timestamps are too coarse to tell the two files apart.
  [[nodiscard]] detail::header_cache* headers_for(backing_kind kind) const noexcept;
  /// The backing directories, kept open for open_published; shared with copies of the store.
  std::shared_ptr<detail::directory_cache> dirs = std::make_shared<detail::directory_cache>();
  /// Headers already validated, for attaching the same unchanged file again; shared likewise.
  std::shared_ptr<detail::header_cache> headers = std::make_shared<detail::header_cache>();
  /// Every published file of a segment: the name itself and its replicas "name@nodeN".
  [[nodiscard]] std::vector<std::filesystem::path> files_of(std::string_view name) const;
  /// The store directories, comma-separated, for "not found in …" messages.
  [[nodiscard]] std::string directories() const;
};

struct segment::impl {
  std::string name;
  // Shared with the store's header cache: parsing a std::filesystem::path costs more than the
  // rest of attaching an unchanged file again.
  std::shared_ptr<const std::filesystem::path> path;
  sys::unique_fd fd;  // O_RDONLY; only with attach_options::keep_fd or attach_fd (else -1)
  sys::mapping map;
  std::uint64_t device = 0;  // identity of the mapped file
  std::uint64_t inode = 0;
  // Immutable once attached: shared with the store's header cache and other attachments.
  std::shared_ptr<const segment_info> info;
  // After map and info: unregistered before they go (see write_fault.hpp).
  detail::fault_registration fault_report;
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
  std::filesystem::path companion_dir;  // the store's lock directory: see header_io.hpp
  std::filesystem::path companion;      // its published companion header, until the rename
  std::vector<std::filesystem::path> replaced;  // published files publish() replaces
  sys::unique_fd fd;  // O_RDWR on the temp file
  sys::mapping map;   // the whole file, shared, writable
  segment_info info;  // planned offsets; completed by publish()
  create_report report;
  bool published = false;
  /// Every page is allocated and mapped (replicated drafts from create; hugetlbfs after its
  /// first fill from files, or when bytes(), write() or publish needs the pages; any draft whose
  /// bytes() was asked for). A tmpfs draft starts unpopulated: the fill writes its file through
  /// fd, recording the file ranges in written, and publish allocates the rest. A hugetlbfs draft
  /// starts unpopulated too (its pages reserved at mmap): its first fill from files preads into
  /// the mapping, each copy faulting its huge page in, and then populates the rest.
  bool populated = false;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> written;  // [begin, end) file offsets
  /// Checksum chunk digests computed while the fill copied: valid while that fill is the only
  /// write (any other write clears them, and publish then reads the data back).
  std::vector<std::uint64_t> digests;
  /// Anything wrote the data (bytes() handed out, write, a fill): false = all zeros.
  bool touched = false;
  /// A replicated draft: the other nodes' replicas (this impl is the first node's). They hold
  /// no lock of their own: this one holds the name's lock for all of them.
  std::vector<std::unique_ptr<draft::impl>> replicas;

  ~impl();
};

namespace detail {
/// Allocates, places and maps every page of d's file (MADV_POPULATE_WRITE; pages the fill
/// already wrote are only mapped), then record_pages.
/// @throws no_space_error naming the store directory; hugepage_pool_error
void populate(draft::impl& d);
/// Records page size, huge bytes and the node histogram of d's mapping in d.info and d.report.
/// pre: every page of d.map is mapped, or !mapped on a host with one memory node and d is not
/// on a THP tmpfs (whose huge pages are counted in the mapping)
void record_pages(draft::impl& d, bool mapped);
/// Allocates (fallocate) the parts of d's file the fill did not write: header, padding, tail.
/// @throws no_space_error naming the store directory
void allocate_rest(draft::impl& d);
/// Runs jobs whose out_offset is an offset in d's data region (out and out_fd are set here):
/// pread into the mapping of a populated or hugetlbfs draft (then populated), copy_file_range
/// into the file of another. Jobs from memory (read_job::in) are for d's first fill only, and
/// on hugetlbfs only once d is populated (draft::write sees to both).
/// @throws as parallel_pread; no_space_error naming the store directory; hugepage_pool_error
///         when a copy cannot fault in a hugetlbfs page
void fill_from_files(draft::impl& d, std::span<read_job> jobs, unsigned threads);
/// Names a failure (errno err) to get d's pages, from populate or from a copy that faulted them
/// in: hugepage_pool_error "<what>: <why the pool is short>" on hugetlbfs, no_space_error on a
/// full tmpfs (EFAULT, ENOSPC, ENOMEM), else os_error.
[[noreturn]] void throw_page_shortage(const draft::impl& d, int err, const std::string& what);
/// @throws no_space_error "<what>: no space left in <store dir> (<free> free of <needed> needed)"
[[noreturn]] void throw_no_space(const draft::impl& d, const std::string& what);
/// Opens, maps and validates a published segment file; companion_dir is where the store keeps
/// companion headers (its lock directory, see header_io.hpp).
/// @throws os_error/format_error naming path
[[nodiscard]] segment attach_file(std::string name, const std::filesystem::path& path,
                                  const attach_options& opts, const std::filesystem::path& companion_dir);
/// The same for a file already open for reading (fd); path names it in messages and path().
/// status: fd's fstat when the caller has it (else attach_open asks).
[[nodiscard]] segment attach_open(std::string name, const std::filesystem::path& path, sys::unique_fd fd,
                                  const attach_options& opts, const std::filesystem::path& companion_dir,
                                  const sys::file_status* status = nullptr);
/// The same for the published file `file` of dir that store::impl::open_published opened (fd, its
/// fstat st), through the store's header cache when it has one for that backing (headers).
[[nodiscard]] segment attach_published(std::string name, const std::filesystem::path& dir, std::string_view file,
                                       sys::unique_fd fd, const sys::file_status& st, const attach_options& opts,
                                       const std::filesystem::path& companion_dir, header_cache* headers);
}  // namespace detail

}  // namespace onecopy
