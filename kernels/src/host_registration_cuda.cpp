// SPDX-License-Identifier: Apache-2.0
// cudaHostRegister of a published segment's mapping, in chunks, timed; unregistered on
// destruction. Facts behind the choices: docs/gpu.md, "Host registration".
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>

#include <fmt/format.h>

#include "cuda_util.hpp"
#include "onecopy/kernels/host_registration.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/sys/memory.hpp"
#include "onecopy/units.hpp"

namespace onecopy::gpu {

struct host_registration::impl {
  register_plan plan;
  sys::unique_fd writable_fd;      // writable_mapping only
  sys::mapping writable_map;       // writable_mapping only
  std::byte* base = nullptr;       // start of the registered mapping
  std::span<const std::byte> data; // the segment's data inside it
  const std::byte* device = nullptr;
  std::vector<register_chunk> chunks;  // registered so far
  double seconds = 0;
  double lock_wait = 0;

  void unregister_all() noexcept {
    for (const auto& c : chunks) (void)cudaHostUnregister(base + c.offset);
    (void)cudaGetLastError();
    chunks.clear();
  }
  ~impl() { unregister_all(); }
};

host_registration::host_registration(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
host_registration::host_registration(host_registration&&) noexcept = default;
host_registration& host_registration::operator=(host_registration&&) noexcept = default;
host_registration::~host_registration() = default;

register_mode host_registration::mode() const noexcept { return impl_->plan.mode; }
const std::string& host_registration::reason() const noexcept { return impl_->plan.reason; }
std::span<const std::byte> host_registration::host_data() const noexcept { return impl_->data; }
const std::byte* host_registration::device_data() const noexcept { return impl_->device; }
double host_registration::seconds() const noexcept { return impl_->seconds; }
double host_registration::lock_wait_seconds() const noexcept { return impl_->lock_wait; }
const std::vector<register_chunk>& host_registration::chunks() const noexcept { return impl_->chunks; }

namespace {

std::string flags_text(unsigned f) {
  std::string s;
  if (f & cudaHostRegisterPortable) s += "Portable";
  if (f & cudaHostRegisterMapped) s += s.empty() ? "Mapped" : "|Mapped";
  if (f & cudaHostRegisterReadOnly) s += s.empty() ? "ReadOnly" : "|ReadOnly";
  return s.empty() ? "Default" : s;
}

// A second, writable O_RDWR open of the same inode (through /proc, so a rename or replace of
// the name in between cannot hand us another file).
sys::unique_fd reopen_writable(const segment& s) {
  return sys::open_if_exists(fmt::format("/proc/self/fd/{}", s.fd()), O_RDWR);
}

}  // namespace

host_registration host_registration::of(const segment& s, const std::filesystem::path& lock_file) {
  const auto& p = probe();
  if (!p.available) throw gpu_error(fmt::format("register segment '{}': {}", s.name(), p.reason));
  auto r = std::make_unique<impl>();
  const segment_info& info = s.info();
  // The engine maps the whole file from offset 0: the header precedes the data.
  auto* mapping_start = const_cast<std::byte*>(s.bytes().data() - info.data_offset);

  bool need_writable = false;
  for (const auto& d : p.devices) need_writable |= !d.host_register_read_only;
  sys::unique_fd rw;
  if (need_writable) {
    try {
      rw = reopen_writable(s);
    } catch (const std::exception&) {
      // EACCES for a 0444 file we do not own with CAP_DAC_OVERRIDE: plan says none.
    }
  }
  r->plan = plan_registration(p.devices, static_cast<bool>(rw));
  r->base = mapping_start;
  r->data = s.bytes();
  // Every way of not registering leaves the segment's own mapping and a reason.
  auto give_up = [&](const std::string& why) {
    r->unregister_all();
    r->writable_map = {};
    r->writable_fd.reset();
    r->base = mapping_start;
    r->data = s.bytes();
    r->device = nullptr;
    r->plan = {register_mode::none, 0, why + ": not registered, copies read pageable memory (no zero-copy)"};
    return host_registration(std::move(r));
  };
  if (r->plan.mode == register_mode::none) return host_registration(std::move(r));

  if (r->plan.mode == register_mode::writable_mapping) {
    try {
      r->writable_map = sys::map_shared(rw.get(), info.file_size, sys::access::read_write, s.path());
    } catch (const os_error& e) {
      return give_up(e.what());
    }
    r->writable_fd = std::move(rw);
    r->base = r->writable_map.data();
    r->data = {r->base + info.data_offset, info.data_size};
  }

  // One registration at a time on this host (pin_user_pages of several large ranges at once can
  // fail with ENOMEM). Without a lock file we still register, unserialised.
  std::optional<registration_lock> lock;
  const std::filesystem::path lock_path = lock_file.empty() ? default_register_lock_path() : lock_file;
  if (!lock_path.empty()) {
    try {
      lock.emplace(lock_path);
      r->lock_wait = lock->waited_seconds();
    } catch (const std::exception&) {
      // Unwritable runtime directory: registering unserialised beats not registering.
    }
  }
  const std::uint64_t page = info.page_size ? info.page_size : static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const auto plan = plan_register_chunks(info.file_size, page);
  const auto start = std::chrono::steady_clock::now();
  for (const auto& c : plan) {
    const cudaError_t e = cudaHostRegister(r->base + c.offset, c.size, r->plan.flags);
    if (e != cudaSuccess)
      return give_up(fmt::format("cudaHostRegister({} + {}, {}, {}) for segment '{}' (chunk {} of {}): {}",
                                 s.path().string(), c.offset, format_bytes(c.size), flags_text(r->plan.flags),
                                 s.name(), r->chunks.size() + 1, plan.size(), detail::runtime_error_text(e)));
    r->chunks.push_back(c);
  }
  r->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  lock.reset();

  // Zero-copy pointer of the data: valid for the whole range only if the chunks' device
  // addresses line up (they equal the host addresses where CanUseHostPointerForRegisteredMem).
  void* dev0 = nullptr;
  if (cudaHostGetDevicePointer(&dev0, r->base, 0) == cudaSuccess) {
    bool contiguous = true;
    for (const auto& c : r->chunks) {
      void* dev = nullptr;
      contiguous &= cudaHostGetDevicePointer(&dev, r->base + c.offset, 0) == cudaSuccess &&
                    dev == static_cast<std::byte*>(dev0) + c.offset;
    }
    if (contiguous) r->device = static_cast<const std::byte*>(dev0) + info.data_offset;
  }
  (void)cudaGetLastError();
  return host_registration(std::move(r));
}

}  // namespace onecopy::gpu
