// SPDX-License-Identifier: Apache-2.0
// The live topology agrees with /sys: node count, CPUs per node, huge-page pools — also right
// after this test reserves a few 2 MiB pages (by increment, restored by decrement; other tests
// on this machine may be changing the pools at the same time).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/plan.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/topology/topology.hpp"
#include "onecopy/units.hpp"

namespace onecopy {
namespace {

std::filesystem::path pool_file(int node) {
  return fmt::format("/sys/devices/system/node/node{}/hugepages/hugepages-2048kB/nr_hugepages", node);
}

TEST(LiveTopology, AgreesWithSys) {
  const auto t = topology::live();
  EXPECT_EQ(t.source(), topology_source::live);
  std::vector<int> nodes;
  for (const auto& n : t.nodes()) nodes.push_back(n.os_index);
  EXPECT_EQ(nodes, sysfs::online_nodes());
  for (const auto& n : t.nodes()) {
    SCOPED_TRACE(fmt::format("node {}", n.os_index));
    EXPECT_EQ(n.cpus, sysfs::node_cpus(n.os_index));
    EXPECT_TRUE(n.free.has_value());
    EXPECT_GT(n.memory, 0u);
    EXPECT_LE(*n.free, n.memory);
    EXPECT_EQ(n.base_page_size, sysfs::base_page_size());
    for (const auto& p : n.hugepages) EXPECT_TRUE(p.free.has_value());
  }
  EXPECT_EQ(t.info().thp_shmem_mode, sysfs::thp_shmem_mode());
  EXPECT_GE(t.info().current_node, 0);
  EXPECT_NE(t.node(t.info().current_node), nullptr);
  EXPECT_FALSE(t.info().hwloc_version.empty());
  EXPECT_GT(t.info().load_seconds, 0.0);
  // Planning on the host works for the whole machine.
  plan_request r;
  r.size = 16 * MiB;
  const auto p = plan(t, r);
  EXPECT_FALSE(p.copies.empty());
}

TEST(LiveTopology, ShowsHugePagesJustReserved) {
  const auto file = pool_file(0);
  if (::geteuid() != 0) GTEST_SKIP() << "reserving huge pages needs root";
  if (!sys::read_number(file)) GTEST_SKIP() << file << " does not exist (no 2 MiB huge pages here)";
  constexpr std::uint64_t add = 4;
  const std::uint64_t before = *sys::read_number(file);
  try {
    sys::write_text(file, std::to_string(before + add));
  } catch (const os_error& e) {
    GTEST_SKIP() << "cannot grow the 2 MiB pool: " << e.what();
  }
  struct restore {
    std::filesystem::path file;
    ~restore() {
      // Subtract exactly what we added from whatever it is now (others may have changed it).
      const auto now = sys::read_number(file).value_or(0);
      try {
        sys::write_text(file, std::to_string(now >= add ? now - add : 0));
      } catch (...) {
      }
    }
  } undo{file};
  if (sys::read_number(file).value_or(0) < add) GTEST_SKIP() << "the kernel found no memory for 4 huge pages";

  // The pool may move under us (other tests): compare against /sys read on both sides.
  bool agreed = false;
  for (int attempt = 0; attempt < 20 && !agreed; ++attempt) {
    const auto sys_before = sysfs::node_hugepages(0);
    const auto t = topology::live();
    const auto sys_after = sysfs::node_hugepages(0);
    if (sys_before.size() != sys_after.size() || sys_before.empty()) continue;
    bool stable = true;
    for (std::size_t i = 0; i < sys_before.size(); ++i)
      stable &= sys_before[i].total == sys_after[i].total && sys_before[i].free == sys_after[i].free;
    if (!stable) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const page_pool* pool = t.node(0)->pool(2 * MiB);
    ASSERT_NE(pool, nullptr);
    const auto& expected = *std::find_if(sys_after.begin(), sys_after.end(),
                                         [](const sysfs::hugepage_pool& p) { return p.page_size == 2 * MiB; });
    EXPECT_EQ(pool->total, expected.total);
    EXPECT_EQ(pool->free, expected.free);
    EXPECT_GE(pool->total, add);
    agreed = true;
  }
  EXPECT_TRUE(agreed) << "the 2 MiB pool kept changing while we read it";
}

}  // namespace
}  // namespace onecopy
