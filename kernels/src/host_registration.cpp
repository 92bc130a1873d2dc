// SPDX-License-Identifier: Apache-2.0
// The CUDA-free half of host registration: chunk planning and the choice of flags.
#include "onecopy/kernels/host_registration.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"

namespace onecopy::gpu {

namespace {
// cudaHostRegister flags (cuda_runtime_api.h), spelled here so this file needs no CUDA header.
constexpr unsigned flag_portable = 0x1;
constexpr unsigned flag_mapped = 0x2;
constexpr unsigned flag_read_only = 0x8;
}  // namespace

registration_lock::registration_lock(const std::filesystem::path& path) {
  fd_ = sys::open(path, O_RDWR | O_CREAT, 0600);
  const auto start = std::chrono::steady_clock::now();
  while (::flock(fd_.get(), LOCK_EX) != 0) {
    if (errno != EINTR) sys::throw_errno(fmt::format("flock({}, LOCK_EX)", path.string()));
  }
  waited_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::filesystem::path default_register_lock_path() noexcept {
  if (const char* p = std::getenv("ONECOPY_REGISTER_LOCK"); p != nullptr && *p != '\0') return p;
  try {
    return store::from_environment().runtime_dir() / "cuda-register.lock";
  } catch (const std::exception&) {
    return {};
  }
}

std::vector<register_chunk> plan_register_chunks(std::uint64_t size, std::uint64_t page_size, std::uint64_t max_chunk) {
  if (page_size == 0 || page_size > max_chunk)
    throw usage_error(fmt::format("plan_register_chunks: page size {} must be between 1 and the chunk limit {}",
                                  page_size, max_chunk));
  const std::uint64_t step = max_chunk / page_size * page_size;
  std::vector<register_chunk> out;
  for (std::uint64_t off = 0; off < size; off += step) out.push_back({off, std::min(step, size - off)});
  return out;
}

std::string_view to_string(register_mode m) noexcept {
  switch (m) {
    case register_mode::read_only: return "read-only";
    case register_mode::writable_mapping: return "writable-mapping";
    case register_mode::none: return "none";
  }
  return "?";
}

register_plan plan_registration(const std::vector<device_info>& devices, bool file_writable) {
  if (devices.empty()) return {register_mode::none, 0, "no CUDA device"};
  for (const auto& d : devices) {
    if (d.pageable_uses_host_page_tables)
      return {register_mode::none, 0,
              fmt::format("cuda:{} reads pageable memory through the host page tables "
                          "(PageableMemoryAccessUsesHostPageTables=1): registering would not pin, so it is skipped",
                          d.ordinal)};
    if (!d.host_register)
      return {register_mode::none, 0, fmt::format("cuda:{} does not support cudaHostRegister", d.ordinal)};
  }
  for (const auto& d : devices) {
    if (!d.host_register_read_only) {
      const std::string why = fmt::format("cuda:{} lacks HostRegisterReadOnlySupported", d.ordinal);
      if (file_writable)
        return {register_mode::writable_mapping, flag_portable | flag_mapped,
                why + ": registering a second, writable MAP_SHARED mapping (read-only by API only)"};
      return {register_mode::none, 0,
              why + " and the segment file cannot be opened for writing: not registered (copies read "
                    "pageable memory; no zero-copy)"};
    }
  }
  return {register_mode::read_only, flag_portable | flag_mapped | flag_read_only,
          "every device supports HostRegisterReadOnly: Portable|Mapped|ReadOnly on the read-only mapping"};
}

}  // namespace onecopy::gpu
