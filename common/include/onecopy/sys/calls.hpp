// SPDX-License-Identifier: Apache-2.0
// Internal. The thin layer that owns onecopy's system calls: each wrapper turns -1/errno into
// an os_error naming the call and the object, so callers never format errno themselves.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "onecopy/sys/fd.hpp"

namespace onecopy::sys {

/// Throws the os_error subclass for errno, with "what: strerror(errno)". Reads errno first.
[[noreturn]] void throw_errno(const std::string& what);

/// open(2) with O_CLOEXEC added; retries EINTR.
/// @throws os_error "open(<path>)" with errno
[[nodiscard]] unique_fd open(const std::filesystem::path& path, int flags, unsigned mode = 0);

/// Like open() but returns an empty fd when the path does not exist (ENOENT).
[[nodiscard]] unique_fd open_if_exists(const std::filesystem::path& path, int flags);

/// What fstat/stat say about a file, in plain types.
struct file_status {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t size = 0;
  std::uint64_t block_size = 0;  ///< st_blksize: the huge page size on hugetlbfs
  std::uint32_t mode = 0;  ///< permission bits and file type
  std::uint32_t uid = 0;
  std::uint32_t links = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;  ///< changes with any write, truncation, chmod or rename
  [[nodiscard]] bool is_directory() const noexcept;
  [[nodiscard]] bool is_regular() const noexcept;
};
/// @throws os_error "fstat(<name>)"
[[nodiscard]] file_status fstat(int fd, const std::filesystem::path& name);
/// "a FIFO", "a socket", "a symbolic link", "a directory", "a character device", "a block
/// device" or "a regular file": what st_mode's type bits name, for messages.
[[nodiscard]] std::string_view file_kind(std::uint32_t mode) noexcept;

/// Opens the directory at path without following a symlink at its last component
/// (O_DIRECTORY|O_NOFOLLOW); an empty fd when nothing is there. Store walks open their
/// directories once and then work relative to the fd, so nothing can swap them in between.
/// @param purpose what the directory is opened for, added to messages ("attach <segment>")
/// @throws os_error "open(<path>)": ENOTDIR/ELOOP name what is in the way
[[nodiscard]] unique_fd open_directory_if_exists(const std::filesystem::path& path,
                                                 std::string_view purpose = {});

/// Opens name (one path component) inside the directory dirfd, which dir names in messages,
/// the way every store file is opened: never through a symlink (openat2 RESOLVE_NO_SYMLINKS |
/// RESOLVE_BENEATH where the kernel has it, else O_NOFOLLOW), never blocking (O_NONBLOCK, so a
/// planted FIFO cannot hang the open), and checked before a byte is read: a regular file owned
/// by the caller that group and others cannot write. An empty fd when name does not exist.
/// @throws os_error naming dir/name and what it is ("is a FIFO, not a regular file"): ELOOP for a
///   symlink, EISDIR for a directory, ENXIO for a FIFO, socket or device, EPERM for a file of
///   another owner or one others may write; else the open's own errno
/// @param status when given, receives the opened file's fstat (the check's own: no second call)
/// @param owner the user the file must belong to; by default the caller's effective uid, asked
///   of the kernel each time (a caller that checked a directory for a user passes that user)
[[nodiscard]] unique_fd open_regular_at(int dirfd, const std::filesystem::path& dir, std::string_view name,
                                        int flags, unsigned mode = 0, file_status* status = nullptr,
                                        std::optional<std::uint32_t> owner = std::nullopt);

/// fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW); std::nullopt when name does not exist.
/// @throws os_error "stat(<dir>/<name>)" for other errors
[[nodiscard]] std::optional<file_status> stat_at_if_exists(int dirfd, const std::filesystem::path& dir,
                                                          std::string_view name);

/// The names in the directory dirfd (without "." and ".."), read through a duplicate of it.
/// @throws os_error "readdir(<dir>)"
[[nodiscard]] std::vector<std::string> list_directory(int dirfd, const std::filesystem::path& dir);

/// lstat; std::nullopt when the path does not exist.
/// @throws os_error "lstat(<path>)" for errors other than ENOENT
[[nodiscard]] std::optional<file_status> lstat_if_exists(const std::filesystem::path& path);

/// Whole small file (sysfs, procfs, config) as text.
/// @throws os_error "read(<path>)"
[[nodiscard]] std::string read_text(const std::filesystem::path& path);
/// Whole small file, or std::nullopt when it does not exist or cannot be read.
[[nodiscard]] std::optional<std::string> read_text_if_exists(const std::filesystem::path& path);
/// An unsigned number from a sysfs-style file ("1024\n"), or std::nullopt.
[[nodiscard]] std::optional<std::uint64_t> read_number(const std::filesystem::path& path);

/// Writes text to a sysfs/procfs knob or small file (truncating).
/// @throws os_error "write(<path>, <text>)"
void write_text(const std::filesystem::path& path, std::string_view text);

/// pread until len bytes or EOF; returns the bytes read. @throws os_error "pread(<name>)"
std::size_t pread_full(int fd, void* buffer, std::size_t len, std::uint64_t offset,
                       const std::filesystem::path& name);

/// pwrite until all len bytes are written; retries EINTR.
/// @throws os_error "pwrite(<name>, <bytes left> bytes at <offset>)": no_space_error for a full
///   filesystem (also when a write makes no progress), EINVAL where the filesystem takes no write(2)
void pwrite_full(int fd, const void* buffer, std::size_t len, std::uint64_t offset,
                 const std::filesystem::path& name);

/// ftruncate(fd, size); retries EINTR. name names the file in messages.
/// @throws os_error "ftruncate(<name>, <size>)": no_space_error for a full filesystem,
///   EINVAL for a size hugetlbfs or the filesystem refuses
void truncate(int fd, std::uint64_t size, const std::filesystem::path& name);

/// Renames from to to atomically, failing instead of replacing when to exists
/// (renameat2 RENAME_NOREPLACE).
/// @throws os_error "renameat2(<from>, <to>, RENAME_NOREPLACE)": EEXIST when to exists, EINVAL
///   on a filesystem without RENAME_NOREPLACE
void rename_noreplace(const std::filesystem::path& from, const std::filesystem::path& to);

/// Renames from to to atomically, replacing to if it exists (rename(2)).
/// @throws os_error "rename(<from>, <to>)"
void rename(const std::filesystem::path& from, const std::filesystem::path& to);

/// Reads one line from fd (a pipe), without the newline; "" at EOF. Byte by byte: it never
/// consumes what follows the line.
[[nodiscard]] std::string read_line(int fd);

/// "0-3,8,10-11" → {0,1,2,3,8,10,11}. @throws usage_error on malformed text
[[nodiscard]] std::vector<int> parse_cpulist(std::string_view text);
/// {0,1,2,3,8} → "0-3,8"
[[nodiscard]] std::string format_cpulist(const std::vector<int>& ids);

/// strerror_r as a std::string.
[[nodiscard]] std::string errno_text(int err);

/// This host's name (uname nodename).
[[nodiscard]] std::string host_name();

/// True when a process with this pid exists (kill(pid, 0) succeeds or fails with EPERM).
[[nodiscard]] bool process_alive(int pid) noexcept;

}  // namespace onecopy::sys
