// SPDX-License-Identifier: Apache-2.0
// The CUDA-free decisions of the GPU path, tested everywhere: registration chunks and flags,
// the probe's never-throwing contract and its text/JSON forms.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "onecopy/error.hpp"
#include "onecopy/kernels/device_copy.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/kernels/host_registration.hpp"
#include "onecopy/units.hpp"

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

}  // namespace
}  // namespace onecopy::gpu
