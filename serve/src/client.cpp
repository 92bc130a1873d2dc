// SPDX-License-Identifier: Apache-2.0
// The client side of serve protocol v1: one blocking connection, requests numbered by id,
// host segments attached from the received fd, device arrays with their fallbacks.
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>

#include "onecopy/engine/attach_fd.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/serve/client.hpp"
#include "onecopy/sys/calls.hpp"
#include "messages.hpp"
#include "unix_socket.hpp"

namespace onecopy::serve {

using nlohmann::json;

std::filesystem::path default_socket_path() {
  if (const char* s = std::getenv("ONECOPY_SOCKET"); s != nullptr && *s != '\0') return s;
  return store::from_environment().runtime_dir() / std::string(socket_name);
}

struct client::impl {
  sys::unique_fd sock;
  mutable bool gone = false;  // latched: EOF is final
  std::filesystem::path path;
  json info;
  std::uint64_t next_id = 1;

  struct answer {
    json body;
    std::vector<sys::unique_fd> fds;
  };

  // An error reply becomes the matching exception.
  static void check(const json& body, const std::string& what) {
    if (body.is_discarded() || !body.is_object()) throw format_error(fmt::format("{}: reply is not a JSON object", what));
    if (body.value("ok", false)) return;
    const json err = body.value("error", json::object());
    const std::string code = err.value("code", "unknown");
    const std::string message = fmt::format("{}: {}", what, err.value("message", "request refused"));
    if (code == "not_found") throw os_error(ENOENT, message);
    if (code == "permission_denied") throw permission_error(EACCES, message);
    throw protocol_error(code, message);
  }

  // The server closed its end (exit, crash, or it dropped us): POLLRDHUP/POLLHUP on our socket.
  bool server_alive() const noexcept {
    if (gone || !sock) return false;
    pollfd p{sock.get(), POLLRDHUP, 0};
    if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0) gone = true;
    return !gone;
  }

  // One request and its reply.
  answer request(json req) {
    const std::uint64_t id = next_id++;
    req["v"] = protocol_version;
    req["id"] = id;
    const std::string what = fmt::format("onecopy serve at {}", path.string());
    answer a;
    try {
      detail::send_frame(sock.get(), req.dump(-1, ' ', false, json::error_handler_t::replace), -1, what);
    } catch (const os_error& e) {
      // A server that refuses us (SO_PEERCRED, too many clients) says why and closes: read that.
      if (e.err() != EPIPE && e.err() != ECONNRESET) throw;
      std::optional<std::string> refusal;
      try {
        refusal = detail::recv_frame(sock.get(), max_reply_bytes, a.fds, what);
      } catch (const std::exception&) {
      }
      if (!refusal) throw;
      check(json::parse(*refusal, nullptr, false), what);
      throw;
    }
    const auto frame = detail::recv_frame(sock.get(), max_reply_bytes, a.fds, what);
    if (!frame) throw os_error(ECONNRESET, fmt::format("{}: the server closed the connection", what));
    a.body = json::parse(*frame, nullptr, false);
    check(a.body, what);
    if (a.body.value("id", json()) != json(id))
      throw format_error(fmt::format("{}: reply to request {} carries id {}", what, id, a.body.value("id", json()).dump()));
    return a;
  }
};

client::client(std::shared_ptr<impl> p) noexcept : impl_(std::move(p)) {}
client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;
client::~client() = default;

client client::connect(const std::filesystem::path& socket) {
  auto p = std::make_shared<impl>();
  p->path = socket.empty() ? default_socket_path() : socket;
  p->sock = detail::connect_unix(p->path);
  // Device copies of large segments take a while to make; attach is immediate.
  timeval tv{600, 0};
  (void)::setsockopt(p->sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  p->info = p->request({{"op", "hello"}}).body;
  return client(std::move(p));
}

const json& client::server_info() const noexcept { return impl_->info; }

segment client::attach(std::string_view name, const attach_options& opts) {
  auto a = impl_->request({{"op", "attach"}, {"segment", name}});
  if (!a.body.value("fd", false) || a.fds.size() != 1)
    throw format_error(fmt::format("onecopy serve at {}: attach '{}': the reply carried {} file descriptors, not 1",
                                   impl_->path.string(), name, a.fds.size()));
  return attach_fd(name, a.fds.front().get(), opts);
}

json client::status() { return impl_->request({{"op", "status"}}).body; }

json client::seal(std::string_view name, const seal_options& opts) {
  try {
    return impl_->request({{"op", "seal"}, {"segment", name}, {"keep_store_file", opts.keep_store_file}}).body;
  } catch (const protocol_error& e) {
    if (e.code() != "unknown_op") throw;
    throw protocol_error(e.code(), fmt::format("{} (the server predates sealed segments: restart it with this "
                                               "version of onecopy)", e.what()));
  }
}

json client::unseal(std::string_view name) { return impl_->request({{"op", "unseal"}, {"segment", name}}).body; }

bool client::server_alive() const noexcept { return impl_ && impl_->server_alive(); }

gpu::device_array client::server_device_array(std::string_view name, int device) {
  const std::string what = fmt::format("device copy of '{}' on cuda:{} from onecopy serve at {} (pid {})", name, device,
                                       impl_->path.string(), impl_->info.value("pid", 0));
  // The server's GPU first: without one it can make no copy, whatever this process has.
  const json server_gpu = impl_->info.value("gpu", json::object());
  if (!server_gpu.value("available", false))
    throw gpu::gpu_error(fmt::format("{}: the server has no usable GPU: {}", what, server_gpu.value("reason", "(no reason given)")));
  const auto& p = gpu::probe();
  if (!p.available) throw gpu::gpu_error(fmt::format("{}: this process has no usable GPU: {}", what, p.reason));
  if (device < 0 || static_cast<std::size_t>(device) >= p.devices.size())
    throw usage_error(fmt::format("{}: no device {} (this process sees {})", what, device, p.devices.size()));
  auto a = impl_->request({{"op", "device"}, {"segment", name}, {"device", p.devices[static_cast<std::size_t>(device)].uuid}});
  const gpu::device_copy_descriptor d = detail::descriptor_from_json(a.body.at("copy"));
  auto arr = gpu::device_array::import(d, a.fds.empty() ? -1 : a.fds.front().get());
  if (arr.method() == gpu::share_method::legacy_ipc) {
    // The server's cudaMalloc backs this mapping: keep our connection (the lease) open for as
    // long as the array lives, and let the array see the server's death.
    std::shared_ptr<impl> conn = impl_;
    arr.hold_owner(conn, [conn] { return conn->server_alive(); });
  }
  std::vector<std::string> notes;
  for (const auto& n : a.body.value("notes", json::array())) notes.push_back(n.get<std::string>());
  arr.add_reasons(notes);
  return arr;
}

gpu::device_array client::device_array(std::string_view name, int device) {
  const auto& p = gpu::probe();
  if (!p.available) throw gpu::gpu_error(fmt::format("device array of '{}': {}", name, p.reason));
  if (device < 0 || static_cast<std::size_t>(device) >= p.devices.size())
    throw usage_error(fmt::format("device array of '{}': no device {} (this process sees {})", name, device, p.devices.size()));
  std::vector<std::string> reasons;
  // ONECOPY_GPU_SHARE=process-copy|zero-copy starts further down the list (to exercise the
  // fallbacks on hardware where the first choice works); legacy-ipc is read by the server.
  const char* env = std::getenv("ONECOPY_GPU_SHARE");
  const auto forced = gpu::parse_share_method(env != nullptr ? env : "");
  const bool skip_owner = forced == gpu::share_method::process_copy || forced == gpu::share_method::zero_copy;
  const bool skip_own_copy = forced == gpu::share_method::zero_copy;
  // 1-2. The owner's copy (VMM or legacy IPC, whichever it made).
  if (skip_owner) reasons.push_back(fmt::format("owner's device copy: skipped: ONECOPY_GPU_SHARE={}", env));
  else try {
    return server_device_array(name, device);
  } catch (const os_error& e) {
    if (e.err() == ENOENT) throw;  // no such segment: nothing else will find it either
    reasons.push_back(fmt::format("owner's device copy: {}", e.what()));
  } catch (const std::exception& e) {
    reasons.push_back(fmt::format("owner's device copy: {}", e.what()));
  }
  // 3. A copy of our own, from the host segment the server hands us.
  if (skip_own_copy) reasons.push_back(fmt::format("own copy: skipped: ONECOPY_GPU_SHARE={}", env));
  else try {
    auto arr = gpu::device_array::copy_of(attach(name), device);
    arr.add_reasons(reasons);
    return arr;
  } catch (const std::exception& e) {
    reasons.push_back(fmt::format("own copy: {}", e.what()));
  }
  // 4. Zero-copy reads of the host segment.
  try {
    auto arr = gpu::device_array::zero_copy(attach(name), device);
    arr.add_reasons(reasons);
    return arr;
  } catch (const std::exception& e) {
    reasons.push_back(fmt::format("zero-copy: {}", e.what()));
  }
  std::string all;
  for (const auto& r : reasons) all += "\n  " + r;
  throw gpu::gpu_error(fmt::format("device array of '{}' on cuda:{}: every method failed:{}", name, device, all));
}

}  // namespace onecopy::serve
