// SPDX-License-Identifier: Apache-2.0
// Internal. What kind of pages a directory's files get and how many it can still hold, the
// store configuration file, and the private (0700, ours) store directories.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "onecopy/sys/fd.hpp"

#include "onecopy/engine/store.hpp"

namespace onecopy::detail {

/// The backing a directory gives its files (statfs + /proc/mounts options).
[[nodiscard]] backing_info probe_backing(const std::filesystem::path& dir);

/// Order backings for automatic page selection: largest pages first, THP before plain shm.
void sort_backings(std::vector<backing_info>& backings);

/// Free bytes on the filesystem of dir (or of its parent while dir does not exist yet);
/// UINT64_MAX when neither can be asked.
[[nodiscard]] std::uint64_t free_space(const std::filesystem::path& dir);

/// Host-wide free huge pages of one size, less those reserved by existing mappings.
[[nodiscard]] std::uint64_t host_available_hugepages(std::uint64_t page);

/// What b's files are rounded up to: whole huge pages on hugetlbfs, base pages elsewhere.
[[nodiscard]] std::uint64_t file_granule(const backing_info& b);

/// Why the hugetlbfs backing b cannot hold pages × b.page_size placed by where; "" when it can.
[[nodiscard]] std::string hugepage_shortage(const backing_info& b, std::uint64_t pages, const placement& where);

/// Parses a config file ("store = /mnt/onecopy/huge-2M" lines, "lock_root = DIR", '#'
/// comments; other keys are kept for `onecopy setup --undo` and ignored here).
/// @return std::nullopt when the file does not exist
/// @throws format_error naming the file and line for a malformed line
[[nodiscard]] std::optional<store_config> read_config(const std::filesystem::path& file);

/// Backings discovered from /proc/mounts: each hugetlbfs mount (one per page size), the first
/// tmpfs mounted huge=within_size|always, and /dev/shm.
[[nodiscard]] store_config discover_config();

/// Makes dir (and missing parents) with mode 0700 if absent, then checks that it is a real
/// directory owned by the effective uid with no group/other access.
/// @throws permission_error naming the directory, its owner and mode when it is not private
void ensure_private_dir(const std::filesystem::path& dir);

/// Like ensure_private_dir's check, without creating: false when dir does not exist.
/// @throws permission_error when dir exists but is not private to us
[[nodiscard]] bool check_private_dir(const std::filesystem::path& dir);

/// Opens dir (O_DIRECTORY|O_NOFOLLOW) and checks through the fd that it is a directory owned by
/// the effective uid with no group/other access; an empty fd when dir does not exist. Store
/// walks then open their files relative to this fd, so the checked directory is the one used.
/// @param purpose what it is opened for, in messages ("attach <segment>")
/// @param owner when given, receives the uid dir was checked to belong to
/// @throws permission_error when dir exists but is not private to us, or is not a directory
[[nodiscard]] sys::unique_fd open_private_dir(const std::filesystem::path& dir,
                                              std::string_view purpose = {}, std::uint32_t* owner = nullptr);

/// "onecopy-<euid>"
[[nodiscard]] std::string user_dir_name();

}  // namespace onecopy::detail
