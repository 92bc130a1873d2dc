// SPDX-License-Identifier: Apache-2.0
// An attached, published segment: a read-only mapping of an immutable file. Move-only; the
// mapping and the shared lock that tells others it is in use live as long as the object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "onecopy/engine/segment_info.hpp"
#include "onecopy/engine/tensor_view.hpp"

namespace onecopy {

class segment {
 public:
  segment(segment&&) noexcept;
  segment& operator=(segment&&) noexcept;
  ~segment();

  /// The name it was attached by ("weights", or "weights@node1" for a replica).
  [[nodiscard]] const std::string& name() const noexcept;
  /// The file it maps.
  [[nodiscard]] const std::filesystem::path& path() const noexcept;
  /// The decoded header.
  [[nodiscard]] const segment_info& info() const noexcept;
  /// The data region, read-only. Writing through it raises SIGSEGV.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept;
  /// Every tensor, in table order.
  [[nodiscard]] std::vector<tensor_view> tensors() const;
  /// The tensor named name. @throws usage_error listing a few names when there is none
  [[nodiscard]] tensor_view tensor(std::string_view name) const;
  /// The single array of a non-bundle segment. @throws usage_error for a bundle
  [[nodiscard]] tensor_view array() const;
  /// Recomputes the checksum of the data (parallel). Touches every page.
  [[nodiscard]] std::uint64_t compute_checksum(unsigned threads = 0) const;
  /// compute_checksum() == info().checksum.
  [[nodiscard]] bool verify(unsigned threads = 0) const;
  /// Where the file's pages are now: one entry per page of info().page_size over the whole file,
  /// as info().histogram counts them at create. Maps every page read-only first
  /// (MADV_POPULATE_READ: the existing pages; nothing is allocated or copied) because move_pages
  /// only sees pages the calling process maps.
  [[nodiscard]] std::vector<node_pages> node_histogram() const;
  /// The file descriptor of the O_RDONLY open (for passing to other processes): only kept for
  /// attach_options::keep_fd and attach_fd(); -1 otherwise (attach closes it after mmap).
  [[nodiscard]] int fd() const noexcept;
  /// (st_dev, st_ino) of the mapped file, read when it was attached.
  [[nodiscard]] std::pair<std::uint64_t, std::uint64_t> file_identity() const noexcept;

  struct impl;
  /// Internal: built by the engine (impl is not defined outside it).
  explicit segment(std::unique_ptr<impl> p) noexcept;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace onecopy
