// SPDX-License-Identifier: Apache-2.0
// The serve protocol's constants shared by server and client, and its error type.
//
// Protocol v1 (see serve/PROTOCOL.md): frames of a 4-byte little-endian length and that
// many bytes of one JSON object; one reply per request, in order; a reply that carries a
// file descriptor says "fd": true and the fd arrives by SCM_RIGHTS with the frame's bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace onecopy::serve {

/// The protocol version this build speaks.
inline constexpr int protocol_version = 1;
/// Largest request frame a server reads (bytes of JSON); larger ones get "bad_frame" and the
/// connection is closed.
inline constexpr std::uint32_t max_request_bytes = 64 * 1024;
/// Largest reply frame a client accepts.
inline constexpr std::uint32_t max_reply_bytes = 16 * 1024 * 1024;
/// File name of the socket in store::runtime_dir().
inline constexpr std::string_view socket_name = "serve.sock";

/// The socket a client should use: ONECOPY_SOCKET when set (e.g. a socket bind-mounted into a
/// container), else <store runtime dir>/serve.sock of store::from_environment().
/// @throws as store::from_environment() and store::runtime_dir()
[[nodiscard]] std::filesystem::path default_socket_path();

/// A server's error reply: code() is the protocol's error code ("bad_json", "not_found", …).
class protocol_error : public std::runtime_error {
 public:
  protocol_error(std::string code, const std::string& message);
  [[nodiscard]] const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

}  // namespace onecopy::serve
