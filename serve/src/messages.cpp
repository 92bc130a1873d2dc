// SPDX-License-Identifier: Apache-2.0
// JSON helpers of serve protocol v1.
#include "messages.hpp"

#include <algorithm>
#include <type_traits>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/serve/protocol.hpp"

namespace onecopy::serve {

protocol_error::protocol_error(std::string code, const std::string& message)
    : std::runtime_error(message), code_(std::move(code)) {}

namespace detail {

using nlohmann::json;

json error_reply(const json& id, std::string_view code, std::string_view message) {
  return {{"v", protocol_version}, {"ok", false}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

json ok_reply(const json& id) { return {{"v", protocol_version}, {"ok", true}, {"id", id}}; }

std::string string_field(const json& request, const char* key) {
  const auto it = request.find(key);
  if (it == request.end() || !it->is_string())
    throw request_error{"bad_request", fmt::format("field '{}' must be a string", key)};
  return it->get<std::string>();
}

bool bool_field(const json& request, const char* key, bool fallback) {
  const auto it = request.find(key);
  if (it == request.end()) return fallback;
  if (!it->is_boolean()) throw request_error{"bad_request", fmt::format("field '{}' must be true or false", key)};
  return it->get<bool>();
}

std::uint64_t uint_field(const json& request, const char* key) {
  const auto it = request.find(key);
  if (it == request.end() || !it->is_number_unsigned())
    throw request_error{"bad_request", fmt::format("field '{}' must be an unsigned integer", key)};
  return it->get<std::uint64_t>();
}

request parse_request(const json& req) {
  if (!req.is_object()) throw request_error{"bad_request", "a request must be a JSON object"};
  const auto v = req.find("v");
  if (v == req.end() || !v->is_number_integer())
    throw request_error{"bad_request", "field 'v' (protocol version) must be an integer"};
  if (v->get<long long>() != protocol_version)
    throw request_error{"unsupported_version",
                        fmt::format("this server speaks protocol v{}, not v{}", protocol_version, v->get<long long>())};
  const std::string op = string_field(req, "op");
  request r;
  r.id = req.value("id", json(nullptr));
  if (op == "hello") {
    r.op = op_kind::hello;
  } else if (op == "attach" || op == "unseal") {
    r.op = op == "attach" ? op_kind::attach : op_kind::unseal;
    r.segment = string_field(req, "segment");
  } else if (op == "device") {
    r.op = op_kind::device;
    r.segment = string_field(req, "segment");
    r.device = string_field(req, "device");
  } else if (op == "release") {
    r.op = op_kind::release;
    r.lease = uint_field(req, "lease");
  } else if (op == "status") {
    r.op = op_kind::status;
  } else if (op == "seal") {
    r.op = op_kind::seal;
    r.segment = string_field(req, "segment");
    r.keep_store_file = bool_field(req, "keep_store_file", false);
  } else {
    throw request_error{"unknown_op", fmt::format("unknown op '{}' (hello, attach, device, release, status, seal, "
                                                  "unseal)", op.substr(0, 40))};
  }
  return r;
}

json tensors_to_json(const std::vector<tensor_entry>& tensors) {
  json out = json::array();
  for (const auto& t : tensors)
    out.push_back({{"name", t.name}, {"dtype", dtype_name(t.type)}, {"shape", t.shape}, {"offset", t.offset}, {"size", t.size}});
  return out;
}

namespace {
template <class T>
T field(const json& j, const char* key, const char* what) {
  try {
    const json& v = j.at(key);
    // nlohmann converts a float such as 7e60 to an integer with undefined behaviour: only
    // unsigned integers pass for unsigned fields (found by fuzz_serve_protocol).
    auto bad = [&](const char* want) {
      return format_error(fmt::format("serve reply: {}: field '{}': must be {}", what, key, want));
    };
    if constexpr (std::is_same_v<T, std::uint64_t>) {
      if (!v.is_number_unsigned()) throw bad("an unsigned integer");
    } else if constexpr (std::is_same_v<T, std::vector<std::uint64_t>>) {
      if (!v.is_array() || !std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_number_unsigned(); }))
        throw bad("an array of unsigned integers");
    }
    return v.get<T>();
  } catch (const json::exception& e) {
    throw format_error(fmt::format("serve reply: {}: field '{}': {}", what, key, e.what()));
  }
}
}  // namespace

std::vector<tensor_entry> tensors_from_json(const json& j) {
  if (!j.is_array()) throw format_error("serve reply: 'tensors' must be an array");
  std::vector<tensor_entry> out;
  for (const auto& t : j) {
    tensor_entry e;
    e.name = field<std::string>(t, "name", "tensor");
    const auto type = parse_dtype(field<std::string>(t, "dtype", "tensor"));
    if (!type) throw format_error(fmt::format("serve reply: tensor '{}': unknown dtype", e.name));
    e.type = *type;
    e.shape = field<std::vector<std::uint64_t>>(t, "shape", "tensor");
    e.offset = field<std::uint64_t>(t, "offset", "tensor");
    e.size = field<std::uint64_t>(t, "size", "tensor");
    out.push_back(std::move(e));
  }
  return out;
}

json descriptor_to_json(const gpu::device_copy_descriptor& d) {
  return {{"method", gpu::to_string(d.method)}, {"device", d.device_uuid},  {"data_size", d.data_size},
          {"alloc_size", d.alloc_size},        {"checksum", d.checksum},    {"generation", d.generation},
          {"ipc_handle", d.ipc_handle},        {"bundle", d.bundle},        {"tensors", tensors_to_json(d.tensors)}};
}

gpu::device_copy_descriptor descriptor_from_json(const json& j) {
  gpu::device_copy_descriptor d;
  const auto method = gpu::parse_share_method(field<std::string>(j, "method", "device copy"));
  if (!method) throw format_error("serve reply: device copy: unknown method");
  d.method = *method;
  d.device_uuid = field<std::string>(j, "device", "device copy");
  d.data_size = field<std::uint64_t>(j, "data_size", "device copy");
  d.alloc_size = field<std::uint64_t>(j, "alloc_size", "device copy");
  d.checksum = field<std::uint64_t>(j, "checksum", "device copy");
  d.generation = field<std::uint64_t>(j, "generation", "device copy");
  d.ipc_handle = field<std::string>(j, "ipc_handle", "device copy");
  d.bundle = field<bool>(j, "bundle", "device copy");
  d.tensors = tensors_from_json(field<json>(j, "tensors", "device copy"));  // missing: format_error too
  return d;
}

}  // namespace detail
}  // namespace onecopy::serve
