// SPDX-License-Identifier: Apache-2.0
// AF_UNIX sockets, SO_PEERCRED and SCM_RIGHTS frames for the serve protocol.
#include "unix_socket.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy::serve::detail {
namespace {

sockaddr_un address_of(const std::filesystem::path& path, const char* call) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string& s = path.native();
  if (s.empty() || s.size() >= sizeof addr.sun_path)
    throw os_error(ENAMETOOLONG, fmt::format("{}({}): a Unix socket path must be 1-{} bytes, this one is {} "
                                             "(use a shorter ONECOPY_DIR or --socket)",
                                             call, s, sizeof addr.sun_path - 1, s.size()));
  std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
  return addr;
}

}  // namespace

sys::unique_fd listen_unix(const std::filesystem::path& path, int backlog) {
  const sockaddr_un addr = address_of(path, "bind");
  sys::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) sys::throw_errno(fmt::format("socket(AF_UNIX) for {}", path.string()));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    sys::throw_errno(fmt::format("bind({})", path.string()));
  if (::listen(fd.get(), backlog) != 0) sys::throw_errno(fmt::format("listen({})", path.string()));
  return fd;
}

sys::unique_fd connect_unix(const std::filesystem::path& path) {
  const sockaddr_un addr = address_of(path, "connect");
  sys::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) sys::throw_errno(fmt::format("socket(AF_UNIX) for {}", path.string()));
  int rc;
  do rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    const bool nobody = err == ENOENT || err == ECONNREFUSED;
    throw_os_error(err, fmt::format("connect({}){}", path.string(), nobody ? " (is 'onecopy serve' running?)" : ""));
  }
  return fd;
}

peer_credentials peer_of(int sock) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) sys::throw_errno("getsockopt(SO_PEERCRED)");
  return {cred.pid, cred.uid, cred.gid};
}

std::string encode_frame(const std::string& body) {
  const auto n = static_cast<std::uint32_t>(body.size());
  std::string out;
  out.reserve(4 + body.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += body;
  return out;
}

std::uint32_t decode_length(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

ssize_t send_some(int sock, const std::string& bytes, std::size_t offset, int pass_fd, int flags) {
  iovec iov{const_cast<char*>(bytes.data() + offset), bytes.size() - offset};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (pass_fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  ssize_t n;
  do n = ::sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
  while (n < 0 && errno == EINTR);
  return n;
}

ssize_t recv_some(int sock, void* buf, std::size_t len, std::vector<sys::unique_fd>& fds, int flags) {
  iovec iov{buf, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
  while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.emplace_back(fd);
    }
  }
  // MSG_CTRUNC: fds beyond our buffer were closed by the kernel; the frame is still whole.
  return n;
}

void send_frame(int sock, const std::string& body, int pass_fd, const std::string& what) {
  const std::string frame = encode_frame(body);
  std::size_t off = 0;
  while (off < frame.size()) {
    const ssize_t n = send_some(sock, frame, off, off == 0 ? pass_fd : -1, 0);
    if (n < 0) sys::throw_errno(fmt::format("sendmsg({})", what));
    off += static_cast<std::size_t>(n);
  }
}

namespace {
// Reads exactly len bytes; false at EOF before the first byte when eof_ok.
bool recv_exact(int sock, unsigned char* buf, std::size_t len, std::vector<sys::unique_fd>& fds,
                const std::string& what, bool eof_ok) {
  std::size_t got = 0;
  while (got < len) {
    const ssize_t n = recv_some(sock, buf + got, len - got, fds, 0);
    if (n < 0) sys::throw_errno(fmt::format("recvmsg({})", what));
    if (n == 0) {
      if (got == 0 && eof_ok) return false;
      throw os_error(ECONNRESET, fmt::format("recvmsg({}): connection closed inside a frame ({} of {} bytes)",
                                             what, got, len));
    }
    got += static_cast<std::size_t>(n);
  }
  return true;
}
}  // namespace

std::optional<std::string> recv_frame(int sock, std::uint32_t max_bytes, std::vector<sys::unique_fd>& fds,
                                      const std::string& what) {
  unsigned char prefix[4];
  if (!recv_exact(sock, prefix, 4, fds, what, true)) return std::nullopt;
  const std::uint32_t n = decode_length(prefix);
  if (n == 0 || n > max_bytes)
    throw format_error(fmt::format("{}: frame of {} bytes (allowed 1-{})", what, n, max_bytes));
  std::string body(n, '\0');
  recv_exact(sock, reinterpret_cast<unsigned char*>(body.data()), n, fds, what, false);
  return body;
}

}  // namespace onecopy::serve::detail
