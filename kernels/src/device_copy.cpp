// SPDX-License-Identifier: Apache-2.0
// The CUDA-free parts of device_copy and device_array: names, accessors, tensor views.
#include <fmt/format.h>

#include "device_copy_impl.hpp"
#include "onecopy/error.hpp"

namespace onecopy::gpu {

std::string_view to_string(share_method m) noexcept {
  switch (m) {
    case share_method::vmm: return "vmm";
    case share_method::legacy_ipc: return "legacy-ipc";
    case share_method::process_copy: return "process-copy";
    case share_method::zero_copy: return "zero-copy";
  }
  return "?";
}

std::optional<share_method> parse_share_method(std::string_view text) noexcept {
  for (auto m : {share_method::vmm, share_method::legacy_ipc, share_method::process_copy, share_method::zero_copy})
    if (to_string(m) == text) return m;
  return std::nullopt;
}

// ---- device_copy ------------------------------------------------------------------------------

device_copy::device_copy(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
device_copy::device_copy(device_copy&&) noexcept = default;
device_copy& device_copy::operator=(device_copy&&) noexcept = default;
device_copy::~device_copy() = default;

const device_copy_descriptor& device_copy::descriptor() const noexcept { return impl_->descriptor; }
int device_copy::fd() const noexcept { return impl_->fd.get(); }
const std::byte* device_copy::data() const noexcept { return impl_->data; }
const std::vector<std::string>& device_copy::notes() const noexcept { return impl_->notes; }
double device_copy::copy_seconds() const noexcept { return impl_->copy_seconds; }
double device_copy::verify_seconds() const noexcept { return impl_->verify_seconds; }

// ---- device_array -----------------------------------------------------------------------------

device_array::device_array(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
device_array::device_array(device_array&&) noexcept = default;
device_array& device_array::operator=(device_array&&) noexcept = default;
device_array::~device_array() = default;

share_method device_array::method() const noexcept { return impl_->method; }
bool device_array::read_only() const noexcept { return impl_->read_only; }
const std::byte* device_array::data() const noexcept { return impl_->data; }
std::uint64_t device_array::size() const noexcept { return impl_->size; }
int device_array::device() const noexcept { return impl_->device; }
std::uint64_t device_array::checksum() const noexcept { return impl_->checksum; }
std::uint64_t device_array::generation() const noexcept { return impl_->generation; }
const std::vector<std::string>& device_array::reasons() const noexcept { return impl_->reasons; }

void device_array::add_reasons(const std::vector<std::string>& earlier) {
  impl_->reasons.insert(impl_->reasons.begin(), earlier.begin(), earlier.end());
}

bool device_array::valid() const {
  if (!impl_->invalid && impl_->owner_alive && !impl_->owner_alive()) impl_->invalid = true;
  return !impl_->invalid;
}

void device_array::hold_owner(std::shared_ptr<const void> owner, std::function<bool()> owner_alive) {
  impl_->owner = std::move(owner);
  impl_->owner_alive = std::move(owner_alive);
}

namespace {
tensor_view device_view(const std::byte* base, const tensor_entry& t) {
  // A span over device memory: its bounds are right, its bytes must not be read on the host.
  return {t.name, t.type, t.shape, std::span<const std::byte>(base + t.offset, t.size)};
}
}  // namespace

std::vector<tensor_view> device_array::tensors() const {
  std::vector<tensor_view> out;
  out.reserve(impl_->tensors.size());
  for (const auto& t : impl_->tensors) out.push_back(device_view(impl_->data, t));
  return out;
}

tensor_view device_array::tensor(std::string_view name) const {
  for (const auto& t : impl_->tensors)
    if (t.name == name) return device_view(impl_->data, t);
  throw usage_error(fmt::format("device array has no tensor '{}' ({} tensors{})", name, impl_->tensors.size(),
                                impl_->bundle ? "" : ", one unnamed array"));
}

}  // namespace onecopy::gpu
