// SPDX-License-Identifier: Apache-2.0
// Internal. AF_UNIX stream sockets for the serve protocol: listen/connect by path, peer
// credentials (SO_PEERCRED), and frames (4-byte little-endian length + JSON) that may carry
// one file descriptor (SCM_RIGHTS) with their first bytes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "onecopy/sys/fd.hpp"

namespace onecopy::serve::detail {

/// socket + bind + listen, non-blocking, close-on-exec.
/// @throws os_error naming the path (ENAMETOOLONG when it does not fit sun_path)
[[nodiscard]] sys::unique_fd listen_unix(const std::filesystem::path& path, int backlog);
/// socket + connect (blocking, close-on-exec).
/// @throws os_error "connect(<path>)" with a hint when nobody listens
[[nodiscard]] sys::unique_fd connect_unix(const std::filesystem::path& path);

/// Who is at the other end, from SO_PEERCRED (the credentials at connect time).
struct peer_credentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};
/// @throws os_error "getsockopt(SO_PEERCRED)"
[[nodiscard]] peer_credentials peer_of(int sock);

/// The 4-byte little-endian length prefix followed by body.
[[nodiscard]] std::string encode_frame(const std::string& body);
/// The length in a 4-byte prefix.
[[nodiscard]] std::uint32_t decode_length(const unsigned char* prefix) noexcept;

/// sendmsg of bytes[offset…] once (MSG_NOSIGNAL | flags); attaches pass_fd (when >= 0) as
/// SCM_RIGHTS. Returns bytes sent, or -1 with errno (EAGAIN for a full non-blocking socket).
[[nodiscard]] ssize_t send_some(int sock, const std::string& bytes, std::size_t offset, int pass_fd, int flags);

/// recvmsg into buf once; file descriptors that arrive (close-on-exec) are appended to fds.
/// Returns bytes read (0 at EOF) or -1 with errno.
[[nodiscard]] ssize_t recv_some(int sock, void* buf, std::size_t len, std::vector<sys::unique_fd>& fds, int flags);

/// Blocking: sends a whole frame, with pass_fd attached when >= 0.
/// @throws os_error "sendmsg(<what>)"
void send_frame(int sock, const std::string& body, int pass_fd, const std::string& what);

/// Blocking: reads one whole frame (at most max_bytes of body) and the fds that came with it.
/// Returns std::nullopt at a clean EOF before the first byte.
/// @throws os_error on errors and EOF inside a frame; format_error for a frame over max_bytes
[[nodiscard]] std::optional<std::string> recv_frame(int sock, std::uint32_t max_bytes,
                                                    std::vector<sys::unique_fd>& fds, const std::string& what);

}  // namespace onecopy::serve::detail
