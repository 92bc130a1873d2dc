// SPDX-License-Identifier: Apache-2.0
// Finding and attaching published segments: the name itself, else the replica of the caller's
// node, else the nearest replica (design §4).
#include <fcntl.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "backing.hpp"
#include "internals.hpp"
#include "onecopy/engine/names.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "store_files.hpp"

namespace onecopy {

std::optional<std::filesystem::path> store::impl::find(std::string_view file_name) const {
  for (const auto& b : backings) {
    const sys::unique_fd dir = detail::open_private_dir(b.dir);
    if (dir && sys::stat_at_if_exists(dir.get(), b.dir, file_name)) return b.dir / std::string(file_name);
  }
  return std::nullopt;
}

std::optional<store::impl::published_file> store::impl::open_published(std::string_view file_name,
                                                                      sys::file_status& status) const {
  for (std::size_t i = 0; i < backings.size(); ++i) {
    const auto& b = backings[i];
    auto dir = dirs->get(i, b.dir, file_name);
    if (!dir) continue;
    sys::unique_fd fd = sys::open_regular_at(dir->fd.get(), b.dir, file_name, O_RDONLY, 0, &status, dir->owner);
    // Not there: the kept directory may have been removed (and made again) since.
    if (!fd && detail::directory_cache::removed(dir) && (dir = dirs->get(i, b.dir, file_name, true)))
      fd = sys::open_regular_at(dir->fd.get(), b.dir, file_name, O_RDONLY, 0, &status, dir->owner);
    if (fd) return published_file{&b, std::move(fd)};
  }
  return std::nullopt;
}

detail::header_cache* store::impl::headers_for(backing_kind kind) const noexcept {
  return kind == backing_kind::directory ? nullptr : headers.get();
}

segment store::attach(std::string_view name, const attach_options& opts) const {
  validate_name(name);
  sys::file_status st;
  if (auto found = impl_->open_published(name, st))
    return detail::attach_published(std::string(name), found->backing->dir, name, std::move(found->fd), st, opts,
                                    impl_->lock_dir, impl_->headers_for(found->backing->kind));
  // A replicated segment: one file per node, "name@nodeN". Take the caller's node's replica.
  const int node = opts.node >= 0 ? opts.node : sysfs::current_node();
  const std::string replica = detail::replica_file_name(name, node);
  if (auto found = impl_->open_published(replica, st))
    return detail::attach_published(replica, found->backing->dir, replica, std::move(found->fd), st, opts,
                                    impl_->lock_dir, impl_->headers_for(found->backing->kind));
  const auto replicas = impl_->files_of(name);
  if (!replicas.empty() && opts.node < 0) {
    // No replica here: the nearest one by the kernel's NUMA distances.
    const auto& best = *std::min_element(replicas.begin(), replicas.end(), [&](const auto& a, const auto& b) {
      return sysfs::node_distance(node, detail::replica_node_of(a.filename().string())) <
             sysfs::node_distance(node, detail::replica_node_of(b.filename().string()));
    });
    return detail::attach_file(best.filename().string(), best, opts, impl_->lock_dir);
  }
  if (opts.node >= 0 && !replicas.empty())
    throw os_error(ENOENT, fmt::format("attach segment '{}': no replica on node {}", name, opts.node));
  throw os_error(ENOENT, fmt::format("attach segment '{}': not found in {}", name, impl_->directories()));
}

bool store::exists(std::string_view name) const {
  validate_name(name);
  return !impl_->files_of(name).empty();
}

std::filesystem::path store::path_of(std::string_view name) const {
  validate_name(name);
  if (auto path = impl_->find(name)) return *path;
  const auto files = impl_->files_of(name);
  if (files.empty()) throw os_error(ENOENT, fmt::format("segment '{}'", name));
  return files.front();
}

}  // namespace onecopy
