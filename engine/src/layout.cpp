// SPDX-License-Identifier: Apache-2.0
#include "onecopy/engine/layout.hpp"

#include <set>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/units.hpp"

namespace onecopy {

std::uint64_t tensor_bytes(std::string_view name, dtype type, const std::vector<std::uint64_t>& shape) {
  const std::uint64_t elem = dtype_size(type);
  if (elem == 0) throw usage_error(fmt::format("tensor '{}': unknown dtype", name));
  std::uint64_t bytes = elem;
  for (auto d : shape) {
    if (d != 0 && bytes > UINT64_MAX / d)
      throw usage_error(fmt::format("tensor '{}': shape overflows 64-bit byte size", name));
    bytes *= d;
  }
  return bytes;
}

namespace {
void check_rank(std::string_view name, const std::vector<std::uint64_t>& shape) {
  if (shape.size() > max_rank)
    throw usage_error(fmt::format("tensor '{}': rank {} exceeds the maximum of {}", name,
                                  shape.size(), max_rank));
}
}  // namespace

layout layout::array(dtype type, std::vector<std::uint64_t> shape) {
  check_rank("", shape);
  layout l;
  tensor_entry e;
  e.type = type;
  e.size = tensor_bytes("", type, shape);
  e.shape = std::move(shape);
  l.data_size_ = e.size;
  l.tensors_.push_back(std::move(e));
  return l;
}

layout layout::bytes(std::uint64_t size) { return array(dtype::u8, {size}); }

layout layout::bundle(const std::vector<tensor_spec>& tensors, std::uint64_t alignment) {
  if (alignment < tensor_alignment || (alignment & (alignment - 1)) != 0)
    throw usage_error(fmt::format("bundle alignment {} must be a power of two >= {}", alignment,
                                  tensor_alignment));
  layout l;
  l.bundle_ = true;
  std::set<std::string_view> seen;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty()) throw usage_error("bundle tensor with an empty name: every tensor needs one");
    if (t.name.size() > max_tensor_name)
      throw usage_error(fmt::format("tensor name '{}…' is {} bytes; the maximum is {}",
                                    t.name.substr(0, 40), t.name.size(), max_tensor_name));
    if (t.name.find('\0') != std::string::npos)
      throw usage_error(fmt::format("tensor name '{}' contains a NUL byte", t.name));
    if (!seen.insert(t.name).second)
      throw usage_error(fmt::format("duplicate tensor name '{}'", t.name));
    check_rank(t.name, t.shape);
    tensor_entry e{t.name, t.type, t.shape, 0, tensor_bytes(t.name, t.type, t.shape)};
    offset = round_up(offset, alignment);
    e.offset = offset;
    if (e.size > UINT64_MAX - offset) throw usage_error("bundle size overflows 64 bits");
    offset += e.size;
    l.tensors_.push_back(std::move(e));
  }
  l.data_size_ = offset;
  return l;
}

const tensor_entry* layout::find(std::string_view name) const noexcept {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace onecopy
