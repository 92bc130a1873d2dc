// SPDX-License-Identifier: Apache-2.0
// Internal. Where a published file's header lives, and reading it from there: v2 at the file's
// end or, on 1 GiB pages, in a companion file in the store's lock directory; v1 at its start.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "onecopy/engine/segment_info.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy::detail {

/// The companion header file of the data file (device, inode): "<device>-<inode>.header". Named
/// by identity so that a replaced segment's old and new files each keep their own until the
/// old one goes, and so that a descriptor alone finds its header.
[[nodiscard]] std::string companion_name(std::uint64_t device, std::uint64_t inode);
/// Whether file names a companion header file (by its name only).
[[nodiscard]] bool is_companion_name(std::string_view file) noexcept;

/// Reads and validates the header of the data file open as fd (st: its fstat; path: its name in
/// messages). The rule, in order: a file whose st_blksize makes header_in_companion true has its
/// v2 header in companion_dir/companion_name(st); any other has it in its last bytes when they
/// end in a v2 fixed header. A file with neither is read as v1 (header at offset 0).
/// @throws format_error "<path or companion path>: <field>: <what>" (a missing companion is one,
///         naming both files); os_error for read errors
[[nodiscard]] segment_info read_segment_header(int fd, const sys::file_status& st,
                                               const std::filesystem::path& path,
                                               const std::filesystem::path& companion_dir);

/// What a companion file says it describes, read without its data file: the data file's name,
/// device and inode; std::nullopt when it is not a well-formed companion (digest included).
struct companion_target {
  std::string data_file;
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
};
[[nodiscard]] std::optional<companion_target> read_companion_target(int dirfd, const std::filesystem::path& dir,
                                                                    const std::string& name);

/// Publishes info's header region as the companion of its data file (info.data_device and
/// data_inode set) in dir: written to a temp file, made 0444, renamed into place. Returns its
/// path. Called before the data file's own rename, so a visible data file has its header.
/// @throws os_error naming the file (on a hugetlbfs lock directory: saying it must be tmpfs)
std::filesystem::path publish_companion(const std::filesystem::path& dir, const segment_info& info);

}  // namespace onecopy::detail
