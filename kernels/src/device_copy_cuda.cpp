// SPDX-License-Identifier: Apache-2.0
// Device copies with CUDA: the owner's VMM (cuMemCreate + POSIX fd) or legacy-IPC copy, and a
// client's import, own copy or zero-copy view. Sequences follow NVIDIA's memMapIPCDrv sample;
// the rules behind them: docs/gpu.md, "Device copies: the sequences and why". Untested on a
// GPU here: bench/gpu_smoke exercises every path on the first GPU host.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "cuda_util.hpp"
#include "device_copy_impl.hpp"
#include "onecopy/error.hpp"
#include "onecopy/kernels/kernels.hpp"
#include "onecopy/units.hpp"

namespace onecopy::gpu {
namespace {

using clock = std::chrono::steady_clock;
double since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

constexpr std::uint64_t copy_chunk = std::uint64_t{256} << 20;

// Makes device the current one and creates its primary context.
void use_device(int device) {
  detail::check(cudaSetDevice(device), fmt::format("cudaSetDevice({})", device));
  detail::check(cudaFree(nullptr), fmt::format("cudaFree(nullptr) on cuda:{} (context creation)", device));
}

// Host → device in chunks on one stream (pinned sources run at full speed, pageable ones are
// staged by the driver).
void copy_to_device(void* dst, const std::byte* src, std::uint64_t size, std::string_view what) {
  cudaStream_t stream = nullptr;
  detail::check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  std::string failure;
  for (std::uint64_t off = 0; off < size && failure.empty(); off += copy_chunk) {
    const std::uint64_t n = std::min(copy_chunk, size - off);
    if (const cudaError_t e = cudaMemcpyAsync(static_cast<std::byte*>(dst) + off, src + off, n,
                                              cudaMemcpyHostToDevice, stream);
        e != cudaSuccess)
      failure = fmt::format("cudaMemcpyAsync({} + {}, {}): {}", what, off, format_bytes(n), detail::runtime_error_text(e));
  }
  const cudaError_t sync = cudaStreamSynchronize(stream);
  (void)cudaStreamDestroy(stream);
  if (failure.empty() && sync != cudaSuccess)
    failure = fmt::format("cudaStreamSynchronize after copying {}: {}", what, detail::runtime_error_text(sync));
  if (!failure.empty()) throw gpu_error(failure);
}

// The checksum kernel on the device copy must equal the segment's.
double verify_on_device(const std::byte* p, std::uint64_t size, std::uint64_t expected, std::string_view what) {
  const auto t = clock::now();
  const std::uint64_t sum = kernels::checksum(kernels::backend::cuda, {p, size});
  if (sum != expected)
    throw gpu_error(fmt::format("{}: the device copy hashes to {:016x} but the segment says {:016x}", what, sum, expected));
  return since(t);
}

std::string hex(const void* p, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += fmt::format("{:02x}", static_cast<const unsigned char*>(p)[i]);
  return s;
}
bool unhex(const std::string& s, void* out, std::size_t n) {
  if (s.size() != 2 * n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    unsigned v = 0;
    for (int k = 0; k < 2; ++k) {
      const char c = s[2 * i + static_cast<std::size_t>(k)];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else return false;
    }
    static_cast<unsigned char*>(out)[i] = static_cast<unsigned char>(v);
  }
  return true;
}

CUmemAllocationProp vmm_prop(CUdevice dev) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = dev;
  prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  return prop;
}

CUmemAccessDesc access(CUdevice dev, CUmemAccess_flags flags) {
  CUmemAccessDesc a{};
  a.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  a.location.id = dev;
  a.flags = flags;
  return a;
}

// ---- owner: VMM copy --------------------------------------------------------------------------

void create_vmm(device_copy::impl& c, const segment& s, const device_info& dev, const std::byte* src) {
  const auto& drv = detail::driver();
  if (!drv.complete()) throw gpu_error(fmt::format("driver API incomplete: {}", drv.missing));
  if (!dev.vmm) throw gpu_error("the device does not support VMM (VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED=0)");
  if (!dev.vmm_posix_fd) throw gpu_error("the device cannot export POSIX fds (HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED=0)");
  CUdevice cu = 0;
  detail::check(drv.device_get(&cu, dev.ordinal), "cuDeviceGet");
  const CUmemAllocationProp prop = vmm_prop(cu);
  std::size_t gran = 0;
  detail::check(drv.mem_get_allocation_granularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED),
                "cuMemGetAllocationGranularity(RECOMMENDED)");
  const std::uint64_t data_size = s.info().data_size;
  const std::uint64_t alloc = round_up(std::max<std::uint64_t>(data_size, 1), gran);

  CUmemGenericAllocationHandle handle = 0;
  detail::check(drv.mem_create(&handle, alloc, &prop, 0), fmt::format("cuMemCreate({}, POSIX_FD)", format_bytes(alloc)));
  CUdeviceptr ptr = 0;
  bool mapped = false;
  // From here on, release undoes whatever was done, in reverse.
  c.release = [&drv, handle, &ptr, alloc, &mapped]() {
    if (mapped) (void)drv.mem_unmap(ptr, alloc);
    if (ptr != 0) (void)drv.mem_address_free(ptr, alloc);
    (void)drv.mem_release(handle);
  };
  auto fail_cleanup = [&] { c.release(); c.release = nullptr; };
  try {
    detail::check(drv.mem_address_reserve(&ptr, alloc, 0, 0, 0), "cuMemAddressReserve");
    detail::check(drv.mem_map(ptr, alloc, 0, handle, 0), "cuMemMap");
    mapped = true;
    const CUmemAccessDesc rw = access(cu, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    detail::check(drv.mem_set_access(ptr, alloc, &rw, 1), "cuMemSetAccess(READWRITE)");
    auto* p = reinterpret_cast<std::byte*>(static_cast<std::uintptr_t>(ptr));
    const auto t = clock::now();
    copy_to_device(p, src, data_size, fmt::format("segment '{}'", s.name()));
    c.copy_seconds = since(t);
    c.verify_seconds = verify_on_device(p, data_size, s.info().checksum,
                                        fmt::format("VMM copy of '{}' on cuda:{}", s.name(), dev.ordinal));
    // The owner does not write it again: make its own mapping read-only too (best effort).
    const CUmemAccessDesc ro = access(cu, CU_MEM_ACCESS_FLAGS_PROT_READ);
    if (const CUresult r = drv.mem_set_access(ptr, alloc, &ro, 1); r != CUDA_SUCCESS)
      c.notes.push_back(fmt::format("owner mapping stays read-write: cuMemSetAccess(PROT_READ): {}",
                                    detail::driver_error_text(r)));
    int fd = -1;
    detail::check(drv.mem_export_to_shareable_handle(&fd, handle, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0),
                  "cuMemExportToShareableHandle(POSIX_FD)");
    c.fd = sys::unique_fd(fd);
    c.data = p;
    c.descriptor.method = share_method::vmm;
    c.descriptor.alloc_size = alloc;
  } catch (...) {
    fail_cleanup();
    throw;
  }
  // The lambda captured locals by reference: rebind it to values now that they are final.
  c.release = [&drv, handle, ptr, alloc]() {
    (void)drv.mem_unmap(ptr, alloc);
    (void)drv.mem_address_free(ptr, alloc);
    (void)drv.mem_release(handle);
  };
}

// ---- owner: legacy IPC copy -------------------------------------------------------------------

void create_legacy(device_copy::impl& c, const segment& s, const device_info& dev, const std::byte* src) {
  const std::uint64_t data_size = s.info().data_size;
  void* p = nullptr;
  detail::check(cudaMalloc(&p, std::max<std::uint64_t>(data_size, 1)), fmt::format("cudaMalloc({})", format_bytes(data_size)));
  c.release = [p] { (void)cudaFree(p); };
  const auto t = clock::now();
  copy_to_device(p, src, data_size, fmt::format("segment '{}'", s.name()));
  c.copy_seconds = since(t);
  c.verify_seconds = verify_on_device(static_cast<const std::byte*>(p), data_size, s.info().checksum,
                                      fmt::format("IPC copy of '{}' on cuda:{}", s.name(), dev.ordinal));
  cudaIpcMemHandle_t h{};
  detail::check(cudaIpcGetMemHandle(&h, p), "cudaIpcGetMemHandle");
  c.data = static_cast<const std::byte*>(p);
  c.descriptor.method = share_method::legacy_ipc;
  c.descriptor.alloc_size = data_size;
  c.descriptor.ipc_handle = hex(&h, sizeof h);
}

}  // namespace

device_copy device_copy::create(const segment& s, const device_info& dev, const host_registration* reg,
                                std::uint64_t generation) {
  use_device(dev.ordinal);
  const std::byte* src = reg != nullptr ? reg->host_data().data() : s.bytes().data();
  std::vector<std::string> notes;
  if (reg == nullptr || reg->mode() == register_mode::none)
    notes.push_back(fmt::format("copying from pageable memory ({})", reg ? reg->reason() : "not registered"));
  auto fill_descriptor = [&](impl& c) {
    c.descriptor.device_uuid = dev.uuid;
    c.descriptor.data_size = s.info().data_size;
    c.descriptor.checksum = s.info().checksum;
    c.descriptor.generation = generation;
    c.descriptor.bundle = s.info().bundle;
    c.descriptor.tensors = s.info().tensors;
  };
  std::string vmm_failure;
  // ONECOPY_GPU_SHARE=legacy-ipc exercises the fallback on hardware that has VMM.
  if (const char* force = std::getenv("ONECOPY_GPU_SHARE"); force != nullptr && std::string_view(force) == "legacy-ipc") {
    vmm_failure = "skipped: ONECOPY_GPU_SHARE=legacy-ipc";
  } else {
    try {
      auto c = std::make_unique<impl>();
      c->notes = notes;
      create_vmm(*c, s, dev, src);
      fill_descriptor(*c);
      return device_copy(std::move(c));
    } catch (const std::exception& e) {
      vmm_failure = e.what();
    }
  }
  try {
    auto c = std::make_unique<impl>();
    c->notes = notes;
    c->notes.push_back(fmt::format("legacy CUDA IPC instead of VMM: {}", vmm_failure));
    create_legacy(*c, s, dev, src);
    fill_descriptor(*c);
    return device_copy(std::move(c));
  } catch (const std::exception& e) {
    throw gpu_error(fmt::format("device copy of '{}' on cuda:{}: VMM failed ({}); legacy IPC failed ({})", s.name(),
                                dev.ordinal, vmm_failure, e.what()));
  }
}

// ---- client side ------------------------------------------------------------------------------

device_array device_array::import(const device_copy_descriptor& d, int fd) {
  const int device = find_device(probe(), d.device_uuid);
  if (device < 0)
    throw gpu_error(fmt::format("import: the owner's device {} is not visible in this process (CUDA_VISIBLE_DEVICES?)",
                                d.device_uuid));
  use_device(device);
  auto a = std::make_unique<impl>();
  a->method = d.method;
  a->size = d.data_size;
  a->device = device;
  a->checksum = d.checksum;
  a->generation = d.generation;
  a->bundle = d.bundle;
  a->tensors = d.tensors;
  if (d.method == share_method::legacy_ipc) {
    cudaIpcMemHandle_t h{};
    if (!unhex(d.ipc_handle, &h, sizeof h)) throw gpu_error("import: malformed legacy IPC handle");
    void* p = nullptr;
    detail::check(cudaIpcOpenMemHandle(&p, h, cudaIpcMemLazyEnablePeerAccess), "cudaIpcOpenMemHandle");
    a->data = static_cast<const std::byte*>(p);
    a->read_only = false;  // legacy IPC maps read-write: only the API keeps it read-only
    a->release = [p] { (void)cudaIpcCloseMemHandle(p); };
    return device_array(std::move(a));
  }
  if (d.method != share_method::vmm) throw gpu_error(fmt::format("import: cannot import a {} copy", to_string(d.method)));
  const auto& drv = detail::driver();
  if (!drv.complete()) throw gpu_error(fmt::format("import: driver API incomplete: {}", drv.missing));
  if (fd < 0) throw gpu_error("import: the owner sent no file descriptor with the VMM copy");
  CUdevice cu = 0;
  detail::check(drv.device_get(&cu, device), "cuDeviceGet");
  CUmemGenericAllocationHandle handle = 0;
  detail::check(drv.mem_import_from_shareable_handle(&handle, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)),
                                                     CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR),
                "cuMemImportFromShareableHandle(POSIX_FD)");
  CUdeviceptr ptr = 0;
  const std::uint64_t alloc = d.alloc_size;
  if (const CUresult r = drv.mem_address_reserve(&ptr, alloc, 0, 0, 0); r != CUDA_SUCCESS) {
    (void)drv.mem_release(handle);
    detail::check(r, "cuMemAddressReserve");
  }
  if (const CUresult r = drv.mem_map(ptr, alloc, 0, handle, 0); r != CUDA_SUCCESS) {
    (void)drv.mem_address_free(ptr, alloc);
    (void)drv.mem_release(handle);
    detail::check(r, "cuMemMap");
  }
  (void)drv.mem_release(handle);  // the mapping keeps the memory alive from here on
  a->release = [&drv, ptr, alloc] {
    (void)drv.mem_unmap(ptr, alloc);
    (void)drv.mem_address_free(ptr, alloc);
  };
  a->data = reinterpret_cast<const std::byte*>(static_cast<std::uintptr_t>(ptr));
  const CUmemAccessDesc ro = access(cu, CU_MEM_ACCESS_FLAGS_PROT_READ);
  if (const CUresult r = drv.mem_set_access(ptr, alloc, &ro, 1); r == CUDA_SUCCESS) {
    a->read_only = true;
  } else {
    a->reasons.push_back(fmt::format("mapped read-write: cuMemSetAccess(PROT_READ): {}", detail::driver_error_text(r)));
    const CUmemAccessDesc rw = access(cu, CU_MEM_ACCESS_FLAGS_PROT_READWRITE);
    detail::check(drv.mem_set_access(ptr, alloc, &rw, 1), "cuMemSetAccess(READWRITE)");
  }
  return device_array(std::move(a));
}

device_array device_array::copy_of(segment s, int device) {
  if (!probe().available) throw gpu_error(fmt::format("copy of '{}': {}", s.name(), probe().reason));
  use_device(device);
  auto a = std::make_unique<impl>();
  const std::uint64_t size = s.info().data_size;
  void* p = nullptr;
  detail::check(cudaMalloc(&p, std::max<std::uint64_t>(size, 1)), fmt::format("cudaMalloc({})", format_bytes(size)));
  a->release = [p] { (void)cudaFree(p); };
  copy_to_device(p, s.bytes().data(), size, fmt::format("segment '{}'", s.name()));
  (void)verify_on_device(static_cast<const std::byte*>(p), size, s.info().checksum,
                         fmt::format("own copy of '{}' on cuda:{}", s.name(), device));
  a->method = share_method::process_copy;
  a->data = static_cast<const std::byte*>(p);
  a->size = size;
  a->device = device;
  a->checksum = s.info().checksum;
  a->bundle = s.info().bundle;
  a->tensors = s.info().tensors;
  a->host = std::move(s);
  return device_array(std::move(a));
}

device_array device_array::zero_copy(segment s, int device) {
  if (!probe().available) throw gpu_error(fmt::format("zero-copy of '{}': {}", s.name(), probe().reason));
  use_device(device);
  auto a = std::make_unique<impl>();
  a->method = share_method::zero_copy;
  a->size = s.info().data_size;
  a->device = device;
  a->checksum = s.info().checksum;
  a->bundle = s.info().bundle;
  a->tensors = s.info().tensors;
  a->host = std::move(s);
  a->registration = host_registration::of(*a->host);
  if (a->registration->device_data() == nullptr)
    throw gpu_error(fmt::format("zero-copy of '{}': no device pointer ({})", a->host->name(), a->registration->reason()));
  a->data = a->registration->device_data();
  a->read_only = a->registration->mode() == register_mode::read_only;
  return device_array(std::move(a));
}

}  // namespace onecopy::gpu
