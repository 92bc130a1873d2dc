// SPDX-License-Identifier: Apache-2.0
// The planner on hand-made topologies that look live (free memory, pools with free pages,
// mounts): page choice from free pages and mounts, budgets, strict, explicit policies, and
// the parsers for the command-line forms.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/pci.hpp"
#include "onecopy/topology/plan.hpp"
#include "onecopy/topology/topology.hpp"
#include "onecopy/units.hpp"

namespace onecopy {
namespace {

// Two 64 GiB nodes, 48 GiB free each, 2 MiB pool of 4096 pages (1024 free) and 1 GiB pool of
// 8 pages (all free) on each; hugetlbfs mounts for both sizes and a THP tmpfs; two GPUs, one
// per node, and one GPU whose locality hwloc could not tell.
topology::parts live_like() {
  topology::parts p;
  p.source = topology_source::live;
  for (int os : {0, 1}) {
    numa_node n;
    n.os_index = os;
    for (int c = 0; c < 4; ++c) n.cpus.push_back(os * 4 + c);
    n.local_cpus = n.cpus;
    n.memory = 64 * GiB;
    n.free = 48 * GiB;
    n.hugepages = {{2 * MiB, 4096, 1024}, {GiB, 8, 8}};
    p.nodes.push_back(n);
  }
  p.cpus = {0, 1, 2, 3, 4, 5, 6, 7};
  p.allowed_cpus = p.cpus;
  p.distances = {{10, 21}, {21, 10}};
  p.distances_name = "NUMALatency";
  p.mounts = {{"/mnt/huge-2m", 2 * MiB, false}, {"/mnt/huge-1g", GiB, false}, {"/mnt/thp", 2 * MiB, true}};
  p.gpus = {{0, "0000:18:00.0", 0x10de, 0x2330, 0x0302, device_kind::gpu, "NVIDIA", "H100", {"cuda0"}, {0}, {}, {0, 1, 2, 3}, "Package P#0"},
            {1, "0000:9a:00.0", 0x10de, 0x2330, 0x0302, device_kind::gpu, "NVIDIA", "H100", {"cuda1"}, {1}, {}, {4, 5, 6, 7}, "Package P#1"},
            {2, "0001:00:00.0", 0x10de, 0x2330, 0x0302, device_kind::gpu, "NVIDIA", "H100", {}, {}, {}, {}, ""}};
  return p;
}

plan_request request(std::uint64_t size) {
  plan_request r;
  r.size = size;
  return r;
}

std::string all_reasons(const placement_plan& p) {
  std::string s;
  for (const auto& r : p.reasons) s += r + "\n";
  return s;
}

TEST(Planner, PrefersOneGigabytePagesWhenFreePoolsAndMountsAllow) {
  const topology t(live_like());
  auto r = request(4 * GiB);
  r.gpus = {0};
  const auto p = plan(t, r);
  EXPECT_EQ(p.policy, numa_policy::bind);
  EXPECT_EQ(p.pages, page_size::huge_1g);
  EXPECT_EQ(p.page_bytes, GiB);
  EXPECT_EQ(p.total_bytes, 4 * GiB);
}

TEST(Planner, UsesFreePagesNotPoolSizes) {
  const topology t(live_like());
  auto r = request(3 * GiB);  // 1 GiB pages would waste nothing, but 1536 2 MiB pages > 1024 free
  r.gpus = {0};
  r.pages = page_size::huge_2m;
  const auto p = plan(t, r);
  EXPECT_EQ(p.pages, page_size::thp);
  EXPECT_NE(all_reasons(p).find("node 0 has 1024 free 2 MiB pages, need 1536"), std::string::npos) << all_reasons(p);
}

TEST(Planner, AvoidsWastefulRoundingUnlessAsked) {
  const topology t(live_like());
  auto r = request(1536 * MiB);  // 1 GiB pages would waste 512 MiB
  r.gpus = {0};
  auto p = plan(t, r);
  EXPECT_EQ(p.pages, page_size::huge_2m);
  EXPECT_NE(all_reasons(p).find("would waste 512 MiB"), std::string::npos);
  r.pages = page_size::huge_1g;
  p = plan(t, r);
  EXPECT_EQ(p.pages, page_size::huge_1g);
  EXPECT_EQ(p.total_bytes, 2 * GiB);
}

TEST(Planner, NeedsMountsOnTheLiveHost) {
  auto parts = live_like();
  parts.mounts.clear();
  const topology t(parts);
  auto r = request(4 * GiB);
  r.gpus = {1};
  const auto p = plan(t, r);
  EXPECT_EQ(p.pages, page_size::base);
  const auto why = all_reasons(p);
  EXPECT_NE(why.find("no hugetlbfs mounted with pagesize=1 GiB"), std::string::npos) << why;
  EXPECT_NE(why.find("no tmpfs mounted huge=within_size|always"), std::string::npos) << why;
}

TEST(Planner, AllGpusReplicateWithinTheBudget) {
  const topology t(live_like());
  auto r = request(8 * GiB);
  r.gpus = {0, 1};
  auto p = plan(t, r);
  EXPECT_EQ(p.policy, numa_policy::replicate);
  ASSERT_EQ(p.copies.size(), 2u);
  EXPECT_EQ(p.copies[0].replica_node, 0);
  EXPECT_EQ(p.copies[1].replica_node, 1);
  EXPECT_EQ(p.copies[1].nodes, std::vector<int>{1});
  EXPECT_EQ(p.total_bytes, 16 * GiB);
  r.budget = 10 * GiB;
  p = plan(t, r);
  EXPECT_EQ(p.policy, numa_policy::interleave);
  EXPECT_NE(all_reasons(p).find("over the budget of 10 GiB (--budget)"), std::string::npos) << all_reasons(p);
}

TEST(Planner, ExplicitReplicateFallsBackUnlessStrict) {
  const topology t(live_like());
  auto r = request(30 * GiB);
  r.where.policy = numa_policy::replicate;
  r.budget = 40 * GiB;
  auto p = plan(t, r);
  EXPECT_EQ(p.policy, numa_policy::interleave);
  EXPECT_NE(all_reasons(p).find("fallback from replicate"), std::string::npos);
  r.strict = true;
  EXPECT_THROW((void)plan(t, r), fallback_error);
  r.budget = 0;  // default: half of 2 × (48 + 2 + 8) GiB = 58 GiB, room for 2 × 20 GiB
  r.size = 20 * GiB;
  p = plan(t, r);
  EXPECT_EQ(p.policy, numa_policy::replicate);
}

TEST(Planner, GpuWithoutLocalityCountsEveryNodeAsLocal) {
  const topology t(live_like());
  auto r = request(GiB);
  r.gpus = {2};
  const auto p = plan(t, r);
  EXPECT_EQ(p.consumer_nodes, (std::vector<int>{0, 1}));
  EXPECT_NE(all_reasons(p).find("no local NUMA node"), std::string::npos);
}

TEST(Planner, ExplicitNodesAreChecked) {
  auto parts = live_like();
  parts.nodes[1].allowed = false;
  const topology t(parts);
  auto r = request(GiB);
  r.where.policy = numa_policy::bind;
  r.where.nodes = {1};
  EXPECT_THROW((void)plan(t, r), usage_error);
  r.where.nodes = {5};
  EXPECT_THROW((void)plan(t, r), usage_error);
  r.where.nodes = {0};
  EXPECT_EQ(plan(t, r).copies.at(0).nodes, std::vector<int>{0});
  // A consumer on the disallowed node is served from the nearest allowed one.
  r = request(GiB);
  r.cpus = {5};
  const auto p = plan(t, r);
  EXPECT_EQ(p.consumer_nodes, std::vector<int>{0});
  EXPECT_NE(all_reasons(p).find("not allowed to this process"), std::string::npos);
}

TEST(Planner, LocalHasNoNodes) {
  const topology t(live_like());
  auto r = request(GiB);
  r.where.policy = numa_policy::local;
  const auto p = plan(t, r);
  EXPECT_EQ(p.policy, numa_policy::local);
  ASSERT_EQ(p.copies.size(), 1u);
  EXPECT_TRUE(p.copies[0].nodes.empty());
  EXPECT_EQ(p.pages, page_size::huge_1g);
}

TEST(Planner, InterleaveOverChosenNodes) {
  const topology t(live_like());
  auto r = request(2 * GiB);
  r.where.policy = numa_policy::interleave;
  auto p = plan(t, r);
  EXPECT_EQ(p.copies.at(0).nodes, (std::vector<int>{0, 1}));
  EXPECT_EQ(p.copies.at(0).bytes_per_node, GiB);
  EXPECT_EQ(p.pages, page_size::huge_1g);  // one 1 GiB page per node
  EXPECT_EQ(p.summary(), "interleave over nodes 0-1, 1 GiB pages, 2 GiB in all");
}

TEST(Planner, HbmOnlyMachineStillPlaces) {
  auto parts = live_like();
  for (auto& n : parts.nodes) n.kind = memory_kind::hbm;
  const topology t(parts);
  const auto p = plan(t, request(GiB));
  EXPECT_EQ(p.policy, numa_policy::replicate);
  EXPECT_NE(p.reasons.front().find("no ordinary DRAM node"), std::string::npos) << p.reasons.front();
}

TEST(Planner, RejectsBadRequests) {
  const topology t(live_like());
  EXPECT_THROW((void)plan(t, request(0)), usage_error);
  auto r = request(GiB);
  r.gpus = {7};
  EXPECT_THROW((void)plan(t, r), usage_error);
  r = request(GiB);
  r.cpus = {99};
  EXPECT_THROW((void)plan(t, r), usage_error);
}

TEST(PlanParsing, GpusCpus) {
  const topology t(live_like());
  EXPECT_EQ(parse_gpu_list(t, "all"), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(parse_gpu_list(t, "1,0"), (std::vector<int>{0, 1}));
  EXPECT_EQ(parse_gpu_list(t, "0000:9A:00.0"), std::vector<int>{1});
  EXPECT_THROW((void)parse_gpu_list(t, "3"), usage_error);
  EXPECT_THROW((void)parse_gpu_list(t, "0000:55:00.0"), usage_error);
  EXPECT_EQ(parse_cpu_list(t, "all").size(), 8u);
  EXPECT_EQ(parse_cpu_list(t, "2-3"), (std::vector<int>{2, 3}));
  EXPECT_THROW((void)parse_cpu_list(t, "8"), usage_error);
}

TEST(PciAddress, ParsesEveryCommonForm) {
  EXPECT_EQ(pci_address::parse("0000:18:00.0").to_string(), "0000:18:00.0");
  EXPECT_EQ(pci_address::parse("00000000:E7:00.0").to_string(), "0000:e7:00.0");  // nvidia-smi
  EXPECT_EQ(pci_address::parse("18:00.0").to_string(), "0000:18:00.0");
  EXPECT_EQ(pci_address::parse("0035:04:1f.7").to_string(), "0035:04:1f.7");
  EXPECT_EQ(pci_address::parse("10000:01:00.0").to_string(), "10000:01:00.0");  // VMD domains
  for (const char* bad : {"", "18:00", "zz:00.0", "0000:18:20.0", "0000:18:00.8", "0000:118:00.0"})
    EXPECT_THROW((void)pci_address::parse(bad), usage_error) << bad;
}

TEST(PciAddress, FindsTheGpuOfACudaBusId) {
  const topology t(live_like());
  const gpu_device* g = find_gpu_by_bus_id(t, "00000000:9A:00.0");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->index, 1);
  EXPECT_EQ(find_gpu_by_bus_id(t, "0000:9b:00.0"), nullptr);
  EXPECT_THROW((void)find_gpu_by_bus_id(t, "cuda0"), usage_error);
}

}  // namespace
}  // namespace onecopy
