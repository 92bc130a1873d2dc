// SPDX-License-Identifier: Apache-2.0
// `onecopy serve`: the host's owner process. It hands out segments over an AF_UNIX socket in
// the store's runtime directory: host segments as O_RDONLY fds of their files (a client that
// cannot see the store still attaches the one copy), and device copies (one per GPU, VMM fd
// or legacy IPC handle). The connection is the lease: when a client exits, its leases go.
//
// Protocol v1 (see kernels/PROTOCOL.md): frames of a 4-byte little-endian length and that
// many bytes of one JSON object; one reply per request, in order; a reply that carries a
// file descriptor says "fd": true and the fd arrives by SCM_RIGHTS with the frame's bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "onecopy/engine/options.hpp"
#include "onecopy/engine/segment.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/kernels/device_copy.hpp"

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

/// How a server runs.
struct server_options {
  std::filesystem::path socket;  ///< empty: <store runtime dir>/serve.sock
  unsigned max_clients = 1024;   ///< further connections get "too_many_clients" and are closed
  bool handle_signals = false;   ///< stop cleanly on SIGINT/SIGTERM (blocks them in the caller's thread)
  bool verbose = false;          ///< one line per connection and request on stderr
  /// On stop (stop(), SIGINT, SIGTERM) with legacy-IPC importers connected, how long to keep
  /// serving them (new connections refused) before freeing their memory anyway. A second
  /// signal stops at once.
  std::chrono::seconds legacy_drain_timeout{60};
};

/// The owner process's state and loop. One per host and store: a second server on the same
/// socket fails with the first one's pid.
class server {
 public:
  /// Takes the singleton lock (<socket>.pid), removes a stale socket, binds and listens.
  /// @throws os_error naming the socket (EADDRINUSE with the running server's pid; path too
  ///         long for sun_path; bind/listen errors)
  server(store s, server_options opts = {});
  server(server&&) noexcept;
  server& operator=(server&&) noexcept;
  ~server();  ///< closes every connection, unlinks the socket, releases device copies

  [[nodiscard]] const std::filesystem::path& socket_path() const noexcept;
  /// Serves until stop() (or a handled signal), then, while clients still map a legacy-IPC copy,
  /// keeps serving them (up to legacy_drain_timeout) before freeing it. Single-threaded poll
  /// loop: a client that sends a partial frame or stops reading never blocks the others (it is
  /// dropped when its reply backlog passes a limit). Device-copy creation runs inline and does
  /// block others.
  void run();
  /// Makes run() return soon. Async-signal-safe and thread-safe.
  void stop() noexcept;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

/// A connection to a server. Every segment or device array obtained through it is leased for
/// as long as the connection lives (mappings stay valid after it closes or the server dies,
/// except legacy-IPC device arrays, which need the server alive: each one keeps the connection,
/// and so its lease, open until it is destroyed, and valid() turns false when the server goes).
class client {
 public:
  /// Connects to socket (default_socket_path() when empty) and says hello.
  /// @throws os_error naming the socket ("is 'onecopy serve' running?"), protocol_error when
  ///         the server speaks another version or refuses us
  [[nodiscard]] static client connect(const std::filesystem::path& socket = {});

  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  ~client();

  /// The server's hello reply ({"server":"onecopy","v":1,"pid":…,"gpu":{…}}).
  [[nodiscard]] const nlohmann::json& server_info() const noexcept;

  /// Attaches a published host segment through the server: receives an O_RDONLY fd of its file
  /// and maps it read-only (attach_fd); no path in the store is needed.
  /// @throws os_error (ENOENT) when the server has no such segment; protocol_error for other
  ///         refusals; format_error as store::attach
  [[nodiscard]] segment attach(std::string_view name, const attach_options& opts = {});

  /// A device view of a segment on device (this process's ordinal), trying in order: the
  /// owner's VMM copy, its legacy IPC copy, a copy of our own, zero-copy reads; reasons()
  /// lists why earlier methods were skipped.
  /// @throws gpu_error when no GPU is usable here or every method failed (listing each reason)
  [[nodiscard]] gpu::device_array device_array(std::string_view name, int device = 0);

  /// The server's own device copy of a segment on device (this process's ordinal), imported
  /// read-only: VMM (fd import) or legacy IPC, whichever the server made, and nothing else (no
  /// copy of our own). reasons() holds the server's notes (fallbacks it took). A legacy-IPC
  /// array keeps this connection (its lease) open as long as it lives.
  /// @throws gpu_error when the server has no usable GPU (with the server's reason), when this
  ///         process has none (with ours), or when the import fails (naming the step);
  ///         usage_error when there is no device `device` here; os_error (ENOENT) when the
  ///         server has no such segment; protocol_error for other refusals (code() says which)
  [[nodiscard]] gpu::device_array server_device_array(std::string_view name, int device = 0);

  /// The server's status: its connections and their leases, segments, device copies, GPUs.
  [[nodiscard]] nlohmann::json status();

  /// False once the server has closed this connection or died (the socket reached EOF): leases
  /// are gone and legacy-IPC device arrays from it are invalid. Never blocks.
  [[nodiscard]] bool server_alive() const noexcept;

  struct impl;

 private:
  explicit client(std::shared_ptr<impl> p) noexcept;
  std::shared_ptr<impl> impl_;  // shared with the legacy-IPC device arrays that hold its lease
};

}  // namespace onecopy::serve
