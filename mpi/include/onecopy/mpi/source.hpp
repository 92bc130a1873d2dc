// SPDX-License-Identifier: Apache-2.0
// Where a shared segment's bytes come from: a root rank's buffer or file (broadcast to the
// nodes' leaders straight into their drafts), or a loader every creating leader runs itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>

#include "onecopy/engine/draft.hpp"

namespace onecopy::mpi {

class source {
 public:
  /// Fills a leader's draft (all of draft.bytes()); throw to fail the share on every rank.
  using loader = std::function<void(draft&)>;

  enum class kind { buffer, file, load };

  /// The root rank's bytes; the other ranks' spans are ignored (pass {}). On the root its size
  /// must be the layout's data size. Read only; must stay valid during share().
  [[nodiscard]] static source buffer(std::span<const std::byte> bytes, int root = 0) {
    source s(kind::buffer, root);
    s.bytes_ = bytes;
    return s;
  }
  /// A file the root rank reads (from offset); the other ranks ignore the path.
  [[nodiscard]] static source file(std::filesystem::path path, int root = 0, std::uint64_t offset = 0) {
    source s(kind::file, root);
    s.path_ = std::move(path);
    s.offset_ = offset;
    return s;
  }
  /// Run by the leader of every node that has to create the segment (e.g. each reads its copy
  /// from a parallel file system); nothing is broadcast.
  [[nodiscard]] static source load(loader fn) {
    source s(kind::load, 0);
    s.load_ = std::move(fn);
    return s;
  }

  [[nodiscard]] enum kind type() const noexcept { return kind_; }
  /// The rank whose buffer or file is broadcast (0 for a loader).
  [[nodiscard]] int root() const noexcept { return root_; }
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }
  [[nodiscard]] const loader& load_function() const noexcept { return load_; }

 private:
  source(enum kind k, int root) : kind_(k), root_(root) {}
  enum kind kind_;
  int root_ = 0;
  std::span<const std::byte> bytes_;
  std::filesystem::path path_;
  std::uint64_t offset_ = 0;
  loader load_;
};

}  // namespace onecopy::mpi
