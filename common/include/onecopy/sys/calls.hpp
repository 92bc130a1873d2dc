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
  std::uint32_t mode = 0;  ///< permission bits and file type
  std::uint32_t uid = 0;
  std::uint32_t links = 0;
  std::int64_t mtime_ns = 0;
  [[nodiscard]] bool is_directory() const noexcept;
  [[nodiscard]] bool is_regular() const noexcept;
};
/// @throws os_error "fstat(<name>)"
[[nodiscard]] file_status fstat(int fd, const std::filesystem::path& name);
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
