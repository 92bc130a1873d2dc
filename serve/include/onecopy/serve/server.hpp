// SPDX-License-Identifier: Apache-2.0
// `onecopy serve`: the host's owner process. It hands out segments over an AF_UNIX socket in
// the store's runtime directory: host segments as O_RDONLY fds of their files (a client that
// cannot see the store still attaches the one copy), or of its sealed memfd copy of a segment
// once asked to seal it (readers then survive any truncation of the store file; see
// onecopy/engine/sealed_copy.hpp), and device copies (one per GPU, VMM fd or legacy IPC
// handle). The connection is the lease: when a client exits, its leases go.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>

#include "onecopy/engine/store.hpp"
#include "onecopy/serve/protocol.hpp"

namespace onecopy::serve {

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

}  // namespace onecopy::serve
