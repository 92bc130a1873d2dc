// SPDX-License-Identifier: Apache-2.0
// The CUDA-free decisions of the GPU path, tested everywhere: registration chunks and flags,
// the probe's never-throwing contract and its text/JSON forms.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "onecopy/error.hpp"
#include "onecopy/kernels/device_copy.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/kernels/host_registration.hpp"
#include "onecopy/units.hpp"
#include "pointer_placement.hpp"
#include "support/test_support.hpp"

namespace onecopy::gpu {
namespace {

TEST(RegisterChunksTest, ChunksAreAtMost64GiBAndStartOnPages) {
  const std::uint64_t size = 200 * GiB + 6 * MiB;
  for (std::uint64_t page : {4 * KiB, 2 * MiB, GiB}) {
    const auto chunks = plan_register_chunks(size, page);
    ASSERT_EQ(chunks.size(), 4u) << page;
    std::uint64_t next = 0;
    for (const auto& c : chunks) {
      EXPECT_EQ(c.offset, next);
      EXPECT_EQ(c.offset % page, 0u);
      EXPECT_LE(c.size, max_register_chunk);
      next += c.size;
    }
    EXPECT_EQ(next, size);
  }
}

TEST(RegisterChunksTest, AChunkLimitThatIsNotAPageMultipleRoundsDown) {
  const auto chunks = plan_register_chunks(10 * MiB, 2 * MiB, 5 * MiB);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0], (register_chunk{0, 4 * MiB}));
  EXPECT_EQ(chunks[2], (register_chunk{8 * MiB, 2 * MiB}));
  EXPECT_TRUE(plan_register_chunks(0, 4 * KiB).empty());
  EXPECT_THROW((void)plan_register_chunks(MiB, 0), usage_error);
  EXPECT_THROW((void)plan_register_chunks(MiB, 2 * GiB, GiB), usage_error);
}

device_info device(bool ro, bool host_page_tables = false) {
  device_info d;
  d.host_register = true;
  d.host_register_read_only = ro;
  d.pageable_uses_host_page_tables = host_page_tables;
  return d;
}

TEST(RegisterPlanTest, ReadOnlyWhenEveryDeviceSupportsIt) {
  const auto p = plan_registration({device(true), device(true)}, false);
  EXPECT_EQ(p.mode, register_mode::read_only);
  EXPECT_EQ(p.flags, 0x1u | 0x2u | 0x8u);  // Portable|Mapped|ReadOnly
}

TEST(RegisterPlanTest, WithoutReadOnlySupportAWritableMappingOrNothing) {
  const auto w = plan_registration({device(true), device(false)}, true);
  EXPECT_EQ(w.mode, register_mode::writable_mapping);
  EXPECT_EQ(w.flags, 0x1u | 0x2u);
  EXPECT_NE(w.reason.find("HostRegisterReadOnlySupported"), std::string::npos) << w.reason;
  const auto n = plan_registration({device(false)}, false);
  EXPECT_EQ(n.mode, register_mode::none);
  EXPECT_FALSE(n.reason.empty());
}

TEST(RegisterPlanTest, HostPageTableDevicesAreNotRegistered) {
  const auto p = plan_registration({device(true, true)}, true);
  EXPECT_EQ(p.mode, register_mode::none);
  EXPECT_NE(p.reason.find("PageableMemoryAccessUsesHostPageTables"), std::string::npos) << p.reason;
  EXPECT_EQ(plan_registration({}, true).mode, register_mode::none);
}

TEST(ShareMethodTest, NamesRoundTrip) {
  for (auto m : {share_method::vmm, share_method::legacy_ipc, share_method::process_copy, share_method::zero_copy})
    EXPECT_EQ(parse_share_method(to_string(m)), m);
  EXPECT_FALSE(parse_share_method("dma-buf").has_value());
}

TEST(ProbeTest, IsCachedAndNeverThrowsAndSaysWhyWhenUnavailable) {
  const probe_result& a = probe();
  const probe_result& b = probe();
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(a.built_with_cuda, ONECOPY_HAVE_CUDA != 0);
  if (a.available) {
    EXPECT_FALSE(a.devices.empty());
    return;
  }
  EXPECT_TRUE(a.devices.empty());
  if (a.built_with_cuda) {
    // Here: no libcuda.so.1 at all → cudaErrorInsufficientDriver; a host with a driver and no
    // visible device says so too. Or ONECOPY_GPU=off.
    EXPECT_TRUE(a.reason.starts_with("no CUDA driver/device (") || a.reason.starts_with("disabled by ONECOPY_GPU"))
        << a.reason;
    EXPECT_GT(a.runtime_version, 0);
  } else {
    EXPECT_TRUE(a.reason.starts_with("built without CUDA")) << a.reason;
  }
}

TEST(ProbeTest, DescribesItselfInOneLineWhenUnavailableAndAsJson) {
  probe_result none;
  none.built_with_cuda = true;
  none.reason = "no CUDA driver/device (cudaGetDeviceCount: cudaErrorInsufficientDriver: x)";
  const auto lines = describe(none);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "CUDA: " + none.reason);

  probe_result some;
  some.available = true;
  some.runtime_version = 13000;
  some.driver_version = 13020;
  device_info d;
  d.ordinal = 0;
  d.name = "NVIDIA H100";
  d.uuid = "GPU-01234567-89ab-cdef-0123-456789abcdef";
  d.pci_bus_id = "0000:3b:00.0";
  d.host_numa_node = 1;
  d.host_numa_source = "sysfs";
  d.vmm = d.vmm_posix_fd = true;
  some.devices.push_back(d);
  const auto text = describe(some);
  ASSERT_GE(text.size(), 3u);
  EXPECT_EQ(text[0], "CUDA: runtime 13.0, driver 13.2, 1 device");
  EXPECT_NE(text[1].find("pci 0000:3b:00.0 node 1 (sysfs)"), std::string::npos) << text[1];
  const nlohmann::json j = some;
  EXPECT_EQ(j["devices"][0]["pci_bus_id"], "0000:3b:00.0");
  EXPECT_EQ(j["devices"][0]["vmm_posix_fd"], true);
  EXPECT_EQ(j["available"], true);
  EXPECT_EQ(find_device(some, d.uuid), 0);
  EXPECT_EQ(find_device(some, "0000:3b:00.0"), 0);
  EXPECT_EQ(find_device(some, "GPU-nope"), -1);
  EXPECT_EQ(find_device(some, ""), -1);
}


// ---- which GPUs this binary has kernels for -----------------------------------------------------

TEST(KernelImageTest, SassRunsOnItsMajorAtTheSameOrAHigherMinor) {
  const std::string release = "75-real;80-real;86-real;89-real;90-real;100-real;120";
  EXPECT_EQ(find_kernel_image(release, 7, 5).how, "sm_75 SASS");    // T4
  EXPECT_EQ(find_kernel_image(release, 8, 0).how, "sm_80 SASS");    // A100
  EXPECT_EQ(find_kernel_image(release, 8, 6).how, "sm_86 SASS");    // A10, A40
  EXPECT_EQ(find_kernel_image(release, 8, 7).how, "sm_86 SASS");    // Orin: 8.6 code runs on 8.7
  EXPECT_EQ(find_kernel_image(release, 8, 9).how, "sm_89 SASS");    // L4, L40S
  EXPECT_EQ(find_kernel_image(release, 9, 0).how, "sm_90 SASS");    // H100
  EXPECT_EQ(find_kernel_image(release, 10, 0).how, "sm_100 SASS");  // B200
  EXPECT_EQ(find_kernel_image(release, 12, 0).how, "sm_120 SASS");  // RTX 50xx
  // A newer GPU than any SASS: the newest PTX is JIT-compiled.
  const auto future = find_kernel_image(release, 13, 0);
  EXPECT_TRUE(future.runs);
  EXPECT_EQ(future.how, "compute_120 PTX (JIT-compiled at first launch)");
}

TEST(KernelImageTest, TheCiBuildHasNoImageForOlderGpus) {
  // "90" = sm_90 SASS + compute_90 PTX: nothing for an A100 (PTX never runs on an older GPU).
  const auto a100 = find_kernel_image("90", 8, 0);
  EXPECT_FALSE(a100.runs);
  EXPECT_TRUE(a100.known);
  EXPECT_NE(a100.how.find("no kernel image for sm_80"), std::string::npos) << a100.how;
  EXPECT_NE(a100.how.find("built for 90"), std::string::npos) << a100.how;
  EXPECT_EQ(find_kernel_image("90", 12, 0).how, "compute_90 PTX (JIT-compiled at first launch)");
  EXPECT_FALSE(find_kernel_image("90-real", 12, 0).runs);   // SASS only: no JIT
  EXPECT_FALSE(find_kernel_image("80-real", 9, 0).runs);    // SASS never crosses a major
  EXPECT_FALSE(find_kernel_image("86-real", 8, 0).runs);    // nor runs on a lower minor
  EXPECT_TRUE(find_kernel_image("80-virtual", 8, 6).runs);  // PTX does
}

TEST(KernelImageTest, ArchSpecificCodeRunsOnlyOnItsExactGpuAndSymbolsAreUnknown) {
  EXPECT_EQ(find_kernel_image("90a-real", 9, 0).how, "sm_90a SASS");
  EXPECT_FALSE(find_kernel_image("90a", 10, 0).runs);
  EXPECT_TRUE(find_kernel_image("80-real,90", 9, 0).runs);  // the form recorded in the binary
  const auto native = find_kernel_image("native", 8, 0);
  EXPECT_TRUE(native.runs);
  EXPECT_FALSE(native.known);
  EXPECT_THROW((void)find_kernel_image("sm_80", 8, 0), usage_error);
  EXPECT_THROW((void)find_kernel_image("8", 8, 0), usage_error);
}

TEST(KernelImageTest, ThisBinaryRecordsItsListAndTheProbeReportsAMissingImage) {
  if (ONECOPY_HAVE_CUDA) EXPECT_FALSE(compiled_cuda_architectures().empty());
  else EXPECT_TRUE(compiled_cuda_architectures().empty());
  probe_result p;
  p.available = true;
  device_info d;
  d.name = "Old GPU";
  d.compute_major = 3;  // Kepler: no CUDA 13 build has code for it
  d.compute_minor = 5;
  p.devices.push_back(d);
  const auto lines = describe(p);
  bool warned = false;
  for (const auto& l : lines) warned |= l.find("warning: no kernel image for sm_35") != std::string::npos;
  EXPECT_EQ(warned, ONECOPY_HAVE_CUDA != 0) << ::testing::PrintToString(lines);
  const nlohmann::json j = p;
  EXPECT_EQ(j["cuda_architectures"], std::string(compiled_cuda_architectures()));
  EXPECT_EQ(j["devices"][0]["kernel_image"]["runs"], false);
}

// ---- where kernels run, and what counts as registered -------------------------------------------

using kernels::detail::pointer_location;
using loc = pointer_location::kind;

TEST(KernelDeviceTest, TheDataDeviceWinsAndHostOrManagedMemoryKeepsTheCurrentOne) {
  const std::vector<pointer_location> on1 = {{loc::device, 1}, {loc::host_registered, 0}, {loc::device, 1}};
  EXPECT_EQ(kernels::detail::kernel_device(on1), 1);
  const std::vector<pointer_location> host = {{loc::host_unregistered, -1}, {loc::managed, 0}};
  EXPECT_EQ(kernels::detail::kernel_device(host), -1);
  EXPECT_EQ(kernels::detail::kernel_device({}), -1);
  const std::vector<pointer_location> split = {{loc::device, 0}, {loc::device, 2}};
  try {
    (void)kernels::detail::kernel_device(split);
    FAIL() << "expected usage_error";
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0 and cuda:2"), std::string::npos) << e.what();
  }
}

// Registrations as a table: host start → {size, device start}.
kernels::detail::registration_lookup table(std::map<std::uintptr_t, std::pair<std::uint64_t, std::uintptr_t>> t) {
  return [t](std::uintptr_t at) -> std::optional<kernels::detail::registered_range> {
    for (const auto& [host, r] : t)
      if (at >= host && at - host < r.first) return kernels::detail::registered_range{host, r.first, r.second};
    return std::nullopt;
  };
}

TEST(RegisteredRangeTest, OnlyAWholeContiguouslyMappedRangeHasADeviceAddress) {
  using kernels::detail::device_address_of_range;
  // Two 64 KiB chunks back to back, mapped back to back: the range across both is fine.
  const auto two_chunks = table({{0x10000, {0x10000, 0x900000}}, {0x20000, {0x10000, 0x910000}}});
  EXPECT_EQ(device_address_of_range(0x18000, 0x10000, two_chunks), 0x908000u);
  EXPECT_EQ(device_address_of_range(0x10000, 0x20000, two_chunks), 0x900000u);
  // The old check looked at the first byte only: a range running past the registration is not.
  EXPECT_EQ(device_address_of_range(0x10000, 0x20001, two_chunks), 0u);
  // A hole between chunks, or chunks mapped apart on the device.
  const auto hole = table({{0x10000, {0x10000, 0x900000}}, {0x21000, {0x10000, 0x911000}}});
  EXPECT_EQ(device_address_of_range(0x10000, 0x12000, hole), 0u);
  const auto apart = table({{0x10000, {0x10000, 0x900000}}, {0x20000, {0x10000, 0x700000}}});
  EXPECT_EQ(device_address_of_range(0x1f000, 0x2000, apart), 0u);
  EXPECT_EQ(device_address_of_range(0x1f000, 0x1000, apart), 0x90f000u);
  EXPECT_EQ(device_address_of_range(0x5000, 0x10, two_chunks), 0u);  // not registered at all
}

// ---- registrations are serialised across processes ----------------------------------------------

TEST(RegistrationLockTest, ASecondHolderWaitsForTheFirst) {
  test::temp_dir dir;
  const auto path = dir.path() / "cuda-register.lock";
  std::optional<registration_lock> first(std::in_place, path);
  EXPECT_EQ(::access(path.c_str(), F_OK), 0);
  // flock locks belong to open file descriptions: another one in this process waits like
  // another process would.
  std::atomic<bool> second_has_it{false};
  double waited = 0;
  std::thread t([&] {
    registration_lock second(path);
    waited = second.waited_seconds();
    second_has_it = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(second_has_it) << "the second lock did not wait for the first";
  first.reset();
  t.join();
  EXPECT_TRUE(second_has_it);
  EXPECT_GT(waited, 0.0);
  EXPECT_THROW(registration_lock(dir.path() / "missing-dir" / "x.lock"), os_error);
}

TEST(RegistrationLockTest, TheDefaultLockIsInTheStoreOrWhereTheEnvironmentSays) {
  test::temp_dir dir;
  {
    test::scoped_env e("ONECOPY_DIR", dir.path().string());
    EXPECT_EQ(default_register_lock_path(), dir.path() / ".locks" / "cuda-register.lock");
  }
  test::scoped_env e("ONECOPY_REGISTER_LOCK", "/run/lock/onecopy-register.lock");
  EXPECT_EQ(default_register_lock_path(), "/run/lock/onecopy-register.lock");
}

}  // namespace
}  // namespace onecopy::gpu
