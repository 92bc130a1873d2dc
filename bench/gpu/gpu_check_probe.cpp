// SPDX-License-Identifier: Apache-2.0
// gpu_check_probe (built and run by scripts/gpu-check.sh; beside gpu_smoke, the other GPU-only
// program): the facts onecopy's GPU path depends on, measured directly (no onecopy code).
//   1. device attributes (host registration, VMM, POSIX fd, pageable access, NUMA);
//   2. cudaHostRegister of a PROT_READ MAP_SHARED mapping (tmpfs file, memfd, hugetlb memfd,
//      an optional hugetlbfs file) with Default, Portable|Mapped and Portable|Mapped|ReadOnly,
//      plus a PROT_READ|PROT_WRITE mapping with Portable|Mapped; seconds and pinned H2D GB/s;
//   3. VMM: cuMemCreate(POSIX_FD), map, RW, downgrade to PROT_READ, export, import, second
//      mapping with PROT_READ.
// Driver calls go through cudaGetDriverEntryPointByVersion (no libcuda link). Exit 77 without a GPU.
// usage: gpu-check-probe [MiB (256)] [tmpfs dir (/dev/shm)] [hugetlbfs dir]
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using clk = std::chrono::steady_clock;
double secs(clk::time_point t) { return std::chrono::duration<double>(clk::now() - t).count(); }

const char* rt(cudaError_t e) { return cudaGetErrorName(e); }

template <class Fn>
Fn entry(const char* name) {
  void* p = nullptr;
  cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
  if (cudaGetDriverEntryPointByVersion(name, &p, 12000, cudaEnableDefault, &q) != cudaSuccess ||
      q != cudaDriverEntryPointSuccess) {
    (void)cudaGetLastError();
    std::printf("driver entry %s: not found\n", name);
    return nullptr;
  }
  return reinterpret_cast<Fn>(p);
}

PFN_cuGetErrorName_v6000 get_error_name = nullptr;
const char* dr(CUresult r) {
  const char* s = nullptr;
  if (get_error_name != nullptr && get_error_name(r, &s) == CUDA_SUCCESS && s != nullptr) return s;
  return "CUresult?";
}

int attr(cudaDeviceAttr a, int dev) {
  int v = -1;
  if (cudaDeviceGetAttribute(&v, a, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return -1;
  }
  return v;
}

std::string flags_text(unsigned f) {
  if (f == 0) return "Default";
  std::string s;
  if (f & cudaHostRegisterPortable) s += "Portable";
  if (f & cudaHostRegisterMapped) s += s.empty() ? "Mapped" : "|Mapped";
  if (f & cudaHostRegisterReadOnly) s += s.empty() ? "ReadOnly" : "|ReadOnly";
  return s;
}

// Registers [p, p+size) with flags, reports, copies it once to the device (pinned GB/s), unregisters.
void try_register(const char* backing, const char* prot, void* p, size_t size, unsigned flags, void* dev_buf) {
  const auto t = clk::now();
  const cudaError_t e = cudaHostRegister(p, size, flags);
  const double reg_s = secs(t);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    std::printf("register backing=%s prot=%s flags=%s -> %s (%d)\n", backing, prot, flags_text(flags).c_str(), rt(e),
                static_cast<int>(e));
    return;
  }
  void* devp = nullptr;
  const cudaError_t ge = cudaHostGetDevicePointer(&devp, p, 0);
  (void)cudaGetLastError();
  double gbps = 0;
  if (dev_buf != nullptr) {
    const auto t2 = clk::now();
    const cudaError_t ce = cudaMemcpy(dev_buf, p, size, cudaMemcpyHostToDevice);
    const double s = secs(t2);
    if (ce == cudaSuccess && s > 0) gbps = static_cast<double>(size) / s / 1e9;
    (void)cudaGetLastError();
  }
  const cudaError_t ue = cudaHostUnregister(p);
  (void)cudaGetLastError();
  std::printf("register backing=%s prot=%s flags=%s -> cudaSuccess (%.4f s, %.3f s/GiB) devptr=%s same_as_host=%d "
              "h2d_pinned_gbps=%.1f unregister=%s\n",
              backing, prot, flags_text(flags).c_str(), reg_s, reg_s / (static_cast<double>(size) / (1u << 30)),
              ge == cudaSuccess ? "yes" : rt(ge), devp == p ? 1 : 0, gbps, rt(ue));
}

void registration_matrix(const char* backing, int fd, size_t size, void* dev_buf) {
  if (fd < 0) {
    std::printf("register backing=%s: no fd (%s)\n", backing, std::strerror(errno));
    return;
  }
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    std::printf("register backing=%s: ftruncate: %s\n", backing, std::strerror(errno));
    ::close(fd);
    return;
  }
  void* w = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (w == MAP_FAILED) {
    std::printf("register backing=%s: mmap RW: %s (no free huge pages?)\n", backing, std::strerror(errno));
    ::close(fd);
    return;
  }
  std::memset(w, 0x5a, size);  // populate
  void* r = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (r == MAP_FAILED) {
    std::printf("register backing=%s: mmap R: %s\n", backing, std::strerror(errno));
  } else {
    const unsigned pm = cudaHostRegisterPortable | cudaHostRegisterMapped;
    try_register(backing, "R", r, size, cudaHostRegisterDefault, dev_buf);
    try_register(backing, "R", r, size, pm, dev_buf);
    try_register(backing, "R", r, size, pm | cudaHostRegisterReadOnly, dev_buf);
    ::munmap(r, size);
  }
  try_register(backing, "RW", w, size, cudaHostRegisterPortable | cudaHostRegisterMapped, dev_buf);
  ::munmap(w, size);
  ::close(fd);
}

void vmm_check(int dev) {
  get_error_name = entry<PFN_cuGetErrorName_v6000>("cuGetErrorName");
  auto device_get = entry<PFN_cuDeviceGet_v2000>("cuDeviceGet");
  auto gran_fn = entry<PFN_cuMemGetAllocationGranularity_v10020>("cuMemGetAllocationGranularity");
  auto create = entry<PFN_cuMemCreate_v10020>("cuMemCreate");
  auto release = entry<PFN_cuMemRelease_v10020>("cuMemRelease");
  auto reserve = entry<PFN_cuMemAddressReserve_v10020>("cuMemAddressReserve");
  auto addr_free = entry<PFN_cuMemAddressFree_v10020>("cuMemAddressFree");
  auto map = entry<PFN_cuMemMap_v10020>("cuMemMap");
  auto unmap = entry<PFN_cuMemUnmap_v10020>("cuMemUnmap");
  auto set_access = entry<PFN_cuMemSetAccess_v10020>("cuMemSetAccess");
  auto get_access = entry<PFN_cuMemGetAccess_v10020>("cuMemGetAccess");
  auto exp = entry<PFN_cuMemExportToShareableHandle_v10020>("cuMemExportToShareableHandle");
  auto imp = entry<PFN_cuMemImportFromShareableHandle_v10020>("cuMemImportFromShareableHandle");
  if (!device_get || !gran_fn || !create || !release || !reserve || !addr_free || !map || !unmap || !set_access ||
      !get_access || !exp || !imp) {
    std::printf("vmm: driver API incomplete\n");
    return;
  }
  CUdevice cu = 0;
  std::printf("vmm cuDeviceGet -> %s\n", dr(device_get(&cu, dev)));
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = cu;
  prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  size_t gmin = 0, grec = 0;
  std::printf("vmm granularity min -> %s %zu\n", dr(gran_fn(&gmin, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM)), gmin);
  std::printf("vmm granularity recommended -> %s %zu\n",
              dr(gran_fn(&grec, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED)), grec);
  if (grec == 0) return;
  const size_t size = ((size_t{64} << 20) + grec - 1) / grec * grec;
  CUmemGenericAllocationHandle h = 0;
  CUresult r = create(&h, size, &prop, 0);
  std::printf("vmm cuMemCreate(%zu, POSIX_FD) -> %s\n", size, dr(r));
  if (r != CUDA_SUCCESS) return;
  CUdeviceptr p = 0;
  std::printf("vmm reserve -> %s\n", dr(reserve(&p, size, 0, 0, 0)));
  std::printf("vmm map -> %s\n", dr(map(p, size, 0, h, 0)));
  CUmemAccessDesc a{};
  a.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  a.location.id = cu;
  a.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  std::printf("vmm setAccess(READWRITE) -> %s\n", dr(set_access(p, size, &a, 1)));
  std::printf("vmm cudaMemset on it -> %s\n", rt(cudaMemset(reinterpret_cast<void*>(p), 0x11, size)));
  (void)cudaDeviceSynchronize();
  (void)cudaGetLastError();
  a.flags = CU_MEM_ACCESS_FLAGS_PROT_READ;
  std::printf("vmm setAccess(READ) on the owner's RW mapping (downgrade) -> %s\n", dr(set_access(p, size, &a, 1)));
  unsigned long long f = 99;
  CUmemLocation loc = a.location;
  std::printf("vmm getAccess after downgrade -> %s flags=%llu\n", dr(get_access(&f, &loc, p)), f);
  int fd = -1;
  r = exp(&fd, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
  std::printf("vmm export(POSIX_FD) -> %s fd=%d\n", dr(r), fd);
  if (r == CUDA_SUCCESS && fd >= 0) {
    CUmemGenericAllocationHandle h2 = 0;
    r = imp(&h2, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)), CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
    std::printf("vmm import(fd) in the same process -> %s\n", dr(r));
    ::close(fd);
    if (r == CUDA_SUCCESS) {
      CUdeviceptr p2 = 0;
      std::printf("vmm reserve2 -> %s\n", dr(reserve(&p2, size, 0, 0, 0)));
      std::printf("vmm map2 -> %s\n", dr(map(p2, size, 0, h2, 0)));
      std::printf("vmm release imported handle -> %s\n", dr(release(h2)));
      a.flags = CU_MEM_ACCESS_FLAGS_PROT_READ;
      std::printf("vmm setAccess(READ) on the second mapping -> %s\n", dr(set_access(p2, size, &a, 1)));
      unsigned char b = 0;
      std::printf("vmm read back through it -> %s byte=0x%02x\n",
                  rt(cudaMemcpy(&b, reinterpret_cast<void*>(p2), 1, cudaMemcpyDeviceToHost)), b);
      (void)cudaGetLastError();
      std::printf("vmm cudaMemset through the READ mapping (copy engine) -> %s\n",
                  rt(cudaMemset(reinterpret_cast<void*>(p2), 0x22, 4096)));
      std::printf("vmm synchronize after it -> %s\n", rt(cudaDeviceSynchronize()));
      (void)cudaGetLastError();
      (void)unmap(p2, size);
      (void)addr_free(p2, size);
    }
  }
  (void)unmap(p, size);
  (void)addr_free(p, size);
  (void)release(h);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t size = argc > 1 ? std::strtoull(argv[1], nullptr, 10) << 20 : size_t{256} << 20;  // MiB
  const char* tmpfs_dir = argc > 2 ? argv[2] : "/dev/shm";
  const char* hugetlbfs_dir = argc > 3 ? argv[3] : "";
  int rtv = 0, drv = 0;
  (void)cudaRuntimeGetVersion(&rtv);
  (void)cudaDriverGetVersion(&drv);
  std::printf("cuda runtime %d driver %d\n", rtv, drv);
  int n = -1;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n <= 0) {
    std::printf("probe: no usable GPU: cudaGetDeviceCount -> %s (%d), count %d\n", rt(e), static_cast<int>(e), n);
    return 77;
  }
  for (int d = 0; d < n; ++d) {
    cudaDeviceProp p{};
    (void)cudaGetDeviceProperties(&p, d);
    char bus[64] = {};
    (void)cudaDeviceGetPCIBusId(bus, sizeof bus, d);
    std::printf("device %d: %s cc %d.%d mem %zu MiB bus %s\n", d, p.name, p.major, p.minor, p.totalGlobalMem >> 20, bus);
    std::printf("  HostRegisterSupported=%d HostRegisterReadOnlySupported=%d CanUseHostPointerForRegisteredMem=%d\n",
                attr(cudaDevAttrHostRegisterSupported, d), attr(cudaDevAttrHostRegisterReadOnlySupported, d),
                attr(cudaDevAttrCanUseHostPointerForRegisteredMem, d));
    std::printf("  PageableMemoryAccess=%d PageableMemoryAccessUsesHostPageTables=%d UnifiedAddressing=%d "
                "IpcEventSupport=%d\n",
                attr(cudaDevAttrPageableMemoryAccess, d), attr(cudaDevAttrPageableMemoryAccessUsesHostPageTables, d),
                attr(cudaDevAttrUnifiedAddressing, d), attr(cudaDevAttrIpcEventSupport, d));
    std::printf("  HostNumaId=%d NumaConfig=%d NumaId=%d ComputeMode=%d\n", attr(cudaDevAttrHostNumaId, d),
                attr(cudaDevAttrNumaConfig, d), attr(cudaDevAttrNumaId, d), attr(cudaDevAttrComputeMode, d));
  }
  (void)cudaSetDevice(0);
  std::printf("context on device 0 -> %s\n", rt(cudaFree(nullptr)));
  {
    auto dev_get_attr = entry<PFN_cuDeviceGetAttribute_v2000>("cuDeviceGetAttribute");
    if (dev_get_attr != nullptr) {
      int vmm = -1, fdok = -1;
      (void)dev_get_attr(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 0);
      (void)dev_get_attr(&fdok, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, 0);
      std::printf("  VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED=%d HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED=%d\n", vmm, fdok);
    }
  }
  void* dev_buf = nullptr;
  if (cudaMalloc(&dev_buf, size) != cudaSuccess) {
    (void)cudaGetLastError();
    dev_buf = nullptr;
  }
  const std::string tmpfs_file = std::string(tmpfs_dir) + "/gpu-check-probe." + std::to_string(::getpid());
  const int tfd = ::open(tmpfs_file.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (tfd >= 0) ::unlink(tmpfs_file.c_str());
  registration_matrix("tmpfs-file", tfd, size, dev_buf);
  registration_matrix("memfd", ::memfd_create("gpu-check", MFD_CLOEXEC), size, dev_buf);
  registration_matrix("memfd-hugetlb-2M", ::memfd_create("gpu-check-huge", MFD_CLOEXEC | MFD_HUGETLB | (21u << 26)),
                      size, dev_buf);
  if (*hugetlbfs_dir != '\0') {
    const std::string f = std::string(hugetlbfs_dir) + "/gpu-check-probe." + std::to_string(::getpid());
    const int hfd = ::open(f.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (hfd >= 0) ::unlink(f.c_str());
    registration_matrix("hugetlbfs-file", hfd, size, dev_buf);
  }
  if (dev_buf != nullptr) (void)cudaFree(dev_buf);
  vmm_check(0);
  std::printf("probe: done\n");
  return 0;
}
