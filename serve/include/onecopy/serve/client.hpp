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

/// How client::seal treats the store's file.
struct seal_options {
  /// Keep the store's file as well: two copies then (the file and the server's memfd), the file
  /// still attachable by name from the store.
  bool keep_store_file = false;
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

  /// Asks the server to copy the published segment name into a sealed memfd of its own
  /// (sealed_copy, onecopy/engine/sealed_copy.hpp) and to serve that from then on: attach() by
  /// any client gets a read-only fd of it, a mapping that no truncation or rewrite of the store
  /// can reach. Unless opts.keep_store_file, the server then removes the store's file (when the
  /// name still names the file it copied): the memfd is the one copy, reachable through the
  /// server only, for as long as the server runs or a reader maps it.
  /// @returns the server's reply: segment, generation, file_size, data_size, checksum, seals,
  ///          store_file_removed
  /// @throws os_error (ENOENT) when the store has no such segment; protocol_error with code()
  ///         "unknown_op" from a server that predates sealing, "os_error" or "bad_segment" when
  ///         the copy failed (the message says why: memory, huge pages, a changed source)
  nlohmann::json seal(std::string_view name, const seal_options& opts = {});

  /// Asks the server to drop its sealed copy of name: new attaches go to the store's file
  /// again; readers keep their mappings, and the memory goes with the last of them.
  /// @throws os_error (ENOENT) when the server holds no sealed copy of name
  nlohmann::json unseal(std::string_view name);

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
