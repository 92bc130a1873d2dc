// SPDX-License-Identifier: Apache-2.0
// Internal. What the files in a store directory are called (a segment "w", its replicas
// "w@node1", a creator's temp file ".w.4711.tmp") and the one walk over a store's directories.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "onecopy/engine/store.hpp"

namespace onecopy::detail {

/// "w", 1 → "w@node1": the file of a segment's replica on node.
[[nodiscard]] std::string replica_file_name(std::string_view name, int node);
/// "w@node" → the prefix every replica file of w starts with.
[[nodiscard]] std::string replica_prefix(std::string_view name);
/// "w@node1" → 1; -1 when file is not a replica file.
[[nodiscard]] int replica_node_of(std::string_view file);
/// "w@node1" → "w": the segment a (replica) file belongs to.
[[nodiscard]] std::string_view base_of(std::string_view file);

/// ".<file>.<pid>.tmp": the temp file a creator fills before publishing file.
[[nodiscard]] std::string temp_file_name(std::string_view file, int pid);
/// ".<name>.<pid>.tmp" → name; "" when file is not a temp file.
[[nodiscard]] std::string temp_owner(std::string_view file);

/// An entry of a store directory met by a walk.
struct store_file {
  const std::filesystem::path& dir;  ///< the directory holding it
  int dirfd;                         ///< dir, opened and checked private: open the entry relative to it
  const std::string& name;           ///< the entry's name in dir
  [[nodiscard]] std::filesystem::path path() const { return dir / name; }
};
using store_file_visitor = std::function<void(const store_file&)>;

/// Calls visit for every entry of dir, opened with open_private_dir (so entries are opened
/// relative to the checked directory); nothing when dir does not exist. The entries are listed
/// before the first visit: visit may unlink them.
/// @throws permission_error when dir exists but is not private to us; os_error from the listing
void for_each_file_in(const std::filesystem::path& dir, const store_file_visitor& visit);

/// for_each_file_in over the store directory of every backing, in backing order.
void for_each_store_file(const std::vector<backing_info>& backings, const store_file_visitor& visit);

}  // namespace onecopy::detail
