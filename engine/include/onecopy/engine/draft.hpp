// SPDX-License-Identifier: Apache-2.0
// A segment being created: exclusive, writable, invisible to others. Fill it, then
// std::move(d).publish() turns it into a read-only segment. Destroyed unpublished, it leaves
// nothing behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "onecopy/engine/layout.hpp"
#include "onecopy/engine/segment.hpp"
#include "onecopy/engine/segment_info.hpp"

namespace onecopy {

/// What creating a draft did: where it went, which pages it got, and why.
struct create_report {
  std::filesystem::path path;  ///< the name it will be published under
  backing_kind backing = backing_kind::directory;
  std::uint64_t page_size = 0;   ///< read back from the kernel
  std::uint64_t huge_bytes = 0;  ///< bytes in pages larger than the base page
  std::uint64_t file_size = 0;
  placement where;
  std::vector<std::string> fallbacks;  ///< one line per page-size fallback, with its reason
  std::vector<std::string> warnings;   ///< advisory failures (e.g. an mbind that did not apply)
  std::vector<node_pages> histogram;   ///< where the pages went (move_pages)
  double populate_seconds = 0;
  /// For a replicated draft: the reports of the other replicas (this one is the first node's).
  std::vector<create_report> replicas;
};

class draft {
 public:
  draft(draft&&) noexcept;
  draft& operator=(draft&&) noexcept;
  ~draft();

  /// The name it will be published under.
  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] const class layout& layout() const noexcept;
  /// The whole data region, writable. On tmpfs the first call allocates and maps its pages
  /// (a fill from files writes the file directly and never needs them).
  /// @throws no_space_error naming the store directory when its filesystem is full
  [[nodiscard]] std::span<std::byte> bytes();
  /// One tensor's bytes, writable. @throws usage_error when there is no such tensor
  [[nodiscard]] std::span<std::byte> tensor_bytes(std::string_view tensor_name);
  /// Copies len bytes of a file starting at file_offset into the data region at data_offset,
  /// with parallel copy_file_range into a tmpfs draft's file, or parallel pread into the
  /// mapping of a hugetlbfs draft.
  /// @throws os_error naming the file; format_error when the file is shorter than asked;
  ///         no_space_error naming the store directory
  void read_from_file(const std::filesystem::path& file, std::uint64_t file_offset,
                      std::uint64_t data_offset, std::uint64_t len);
  /// Copies from into the data region at data_offset, in parallel: into a tmpfs draft's file
  /// with pwrite (its pages are never zero-filled first), into the mapping otherwise.
  /// @throws usage_error when the bytes do not fit; no_space_error naming the store directory
  void write(std::uint64_t data_offset, std::span<const std::byte> from);
  /// Bytes for write(std::span<const piece>): where in the data region, and what.
  struct piece {
    std::uint64_t data_offset = 0;
    std::span<const std::byte> bytes;
  };
  /// Copies every piece as write() does. The first write of a draft checksums what it copies,
  /// while it is in cache; a later one leaves publish to read the whole region back. So a
  /// bundle's tensors written in one call are read once, not twice.
  /// @throws usage_error when a piece does not fit or two overlap (naming their offsets);
  ///         no_space_error naming the store directory
  void write(std::span<const piece> pieces);
  [[nodiscard]] const create_report& report() const noexcept;
  /// The files this draft has made and not published yet (its temp file): what a process that
  /// is being terminated abruptly removes (async-signal-safe unlink) so nothing is left behind.
  [[nodiscard]] std::vector<std::filesystem::path> unpublished_files() const;

  /// Checksums the data, writes header and table, makes the pages read-only (mprotect, 0444)
  /// and renames the file to its name atomically (never replacing another segment unless
  /// create_options::replace). Returns the segment, attached read-only.
  /// A replicated draft (create_options::replicate_on) first copies its bytes into every other
  /// replica, then publishes them all (other nodes first) and returns the replica of the
  /// caller's node, or the first one. Readers may see some replicas before the others.
  /// @throws os_error when a step fails; the draft's file is then removed
  [[nodiscard]] segment publish() &&;

  struct impl;
  /// Internal: built by the engine (impl is not defined outside it).
  explicit draft(std::unique_ptr<impl> p) noexcept;
  /// Internal: the engine's state, for the engine's loaders.
  [[nodiscard]] impl& internals() noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace onecopy
