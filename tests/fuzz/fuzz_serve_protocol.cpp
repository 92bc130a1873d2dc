// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: serve protocol v1 messages (serve/PROTOCOL.md) as the server and the
// client read them. The first byte picks the direction: even, a request body read by the
// server's own parse_request (every op: v, op and each op's fields); odd, a reply's device-copy
// descriptor and tensor table as the client does. Malformed input must end in request_error or
// format_error — never another exception — and an accepted descriptor must survive a round
// trip through JSON unchanged (else: trap).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "onecopy/error.hpp"
#include "onecopy/serve/protocol.hpp"
#include "messages.hpp"

namespace {
using nlohmann::json;
using namespace onecopy;
using namespace onecopy::serve::detail;

void read_request(const json& req) {
  try {
    const request r = parse_request(req);
    // What the server then echoes and quotes must serialise whatever the client sent.
    (void)error_reply(r.id, "bad_request", r.segment + r.device).dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (const request_error& e) {
    (void)error_reply(nullptr, e.code, e.message).dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

void read_reply(const json& reply) {
  gpu::device_copy_descriptor d;
  try {
    d = descriptor_from_json(reply.is_object() && reply.contains("copy") ? reply["copy"] : reply);
  } catch (const format_error&) {
    return;
  }
  const auto again = descriptor_from_json(descriptor_to_json(d));
  if (again.method != d.method || again.device_uuid != d.device_uuid || again.data_size != d.data_size ||
      again.alloc_size != d.alloc_size || again.checksum != d.checksum || again.generation != d.generation ||
      again.ipc_handle != d.ipc_handle || again.bundle != d.bundle || again.tensors.size() != d.tensors.size())
    __builtin_trap();
  for (std::size_t i = 0; i < d.tensors.size(); ++i)
    if (again.tensors[i].name != d.tensors[i].name || again.tensors[i].shape != d.tensors[i].shape ||
        again.tensors[i].offset != d.tensors[i].offset || again.tensors[i].size != d.tensors[i].size)
      __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > serve::max_request_bytes) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const json message = json::parse(body, nullptr, false);
  if (message.is_discarded()) return 0;  // the server answers bad_json; the client format_error
  try {
    if (data[0] % 2 == 0) read_request(message);
    else read_reply(message);
  } catch (const std::exception& e) {
    // A json::exception (or anything else) escaping here would escape the server's and the
    // client's handlers as an "internal" error instead of a named one.
    __builtin_trap();
  }
  return 0;
}
