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
