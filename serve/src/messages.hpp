// SPDX-License-Identifier: Apache-2.0
// Internal. The JSON side of serve protocol v1 (serve/PROTOCOL.md): error replies, field
// checks, and device-copy descriptors and tensor tables as JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "onecopy/kernels/device_copy.hpp"

namespace onecopy::serve::detail {

/// A request the server refuses; becomes an error reply with this code.
struct request_error {
  std::string code;
  std::string message;
};

/// The requests of the protocol (PROTOCOL.md, "Requests").
enum class op_kind { hello, attach, device, release, status, seal, unseal };

/// A request, its fields checked: those its op does not use stay empty.
struct request {
  op_kind op = op_kind::hello;
  nlohmann::json id;  ///< echoed in the reply (null when absent)
  std::string segment;
  std::string device;
  std::uint64_t lease = 0;
  bool keep_store_file = false;
};

/// Checks a request as the server reads it: an object, v == protocol_version, a known op and
/// the fields that op needs with their types (the segment name is validated by the handler).
/// @throws request_error "bad_request", "unsupported_version" or "unknown_op"
[[nodiscard]] request parse_request(const nlohmann::json& req);

/// {"v":1,"ok":false,"id":id,"error":{"code":…,"message":…}}
[[nodiscard]] nlohmann::json error_reply(const nlohmann::json& id, std::string_view code, std::string_view message);
/// {"v":1,"ok":true,"id":id}
[[nodiscard]] nlohmann::json ok_reply(const nlohmann::json& id);

/// The string field key of request, or a request_error ("bad_request") naming it.
[[nodiscard]] std::string string_field(const nlohmann::json& request, const char* key);
/// The boolean field key of request; fallback when it is absent; a request_error
/// ("bad_request") when it is there and not a boolean.
[[nodiscard]] bool bool_field(const nlohmann::json& request, const char* key, bool fallback);
/// The unsigned integer field key of request, or a request_error ("bad_request").
[[nodiscard]] std::uint64_t uint_field(const nlohmann::json& request, const char* key);

[[nodiscard]] nlohmann::json tensors_to_json(const std::vector<tensor_entry>& tensors);
/// @throws format_error naming the bad field
[[nodiscard]] std::vector<tensor_entry> tensors_from_json(const nlohmann::json& j);

[[nodiscard]] nlohmann::json descriptor_to_json(const gpu::device_copy_descriptor& d);
/// @throws format_error naming the bad field
[[nodiscard]] gpu::device_copy_descriptor descriptor_from_json(const nlohmann::json& j);

}  // namespace onecopy::serve::detail
