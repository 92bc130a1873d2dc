// SPDX-License-Identifier: Apache-2.0
// A client of `onecopy serve` (serve/server.hpp): host segments attached from the fds it hands
// out, and device arrays from its device copies (kernels' device_copy) or this process's own.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "onecopy/engine/options.hpp"
#include "onecopy/engine/segment.hpp"
#include "onecopy/kernels/device_copy.hpp"
#include "onecopy/serve/protocol.hpp"

namespace onecopy::serve {

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
