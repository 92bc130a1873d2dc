// SPDX-License-Identifier: Apache-2.0
// Edge cases on hwloc synthetic topologies: one node, eight nodes, CPU-less nodes, no huge
// pages anywhere, a size larger than the host, and malformed descriptions.
#include <gtest/gtest.h>

#include <string>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/plan.hpp"
#include "plan_summary.hpp"
#include "onecopy/topology/topology.hpp"
#include "onecopy/units.hpp"

namespace onecopy {
namespace {

placement_plan plan_of(const topology& t, std::uint64_t size, numa_policy policy = numa_policy::automatic) {
  plan_request r;
  r.size = size;
  r.where.policy = policy;
  return plan(t, r);
}

TEST(SyntheticTopology, OneNodeBindsThere) {
  const auto t = topology::from_synthetic("pack:1 core:2 pu:2");
  EXPECT_EQ(t.source(), topology_source::synthetic);
  ASSERT_EQ(t.nodes().size(), 1u);
  EXPECT_EQ(t.nodes()[0].cpus, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(t.nodes()[0].memory, GiB);  // hwloc's default node size
  EXPECT_TRUE(t.gpus().empty());
  EXPECT_TRUE(t.info().distances.empty());
  EXPECT_EQ(test::decided(plan_of(t, 100 * MiB)), "bind:0");
  // replicate on one node: one replica file, NAME@node0.
  const auto p = plan_of(t, 100 * MiB, numa_policy::replicate);
  EXPECT_EQ(test::decided(p), "replicate:0");
  EXPECT_EQ(p.copies.at(0).replica_node, 0);
}

TEST(SyntheticTopology, EightNodesReplicateWhileTheBudgetAllows) {
  const auto t = topology::from_synthetic("pack:2 numa:4 core:2 pu:1");
  ASSERT_EQ(t.nodes().size(), 8u);
  for (const auto& n : t.nodes()) EXPECT_EQ(n.cpus.size(), 2u);
  // Budget: half of 8 × 1 GiB. 8 × 256 MiB fits it; 8 × 800 MiB does not.
  EXPECT_EQ(test::decided(plan_of(t, 256 * MiB)), "replicate:0-7");
  const auto p = plan_of(t, 800 * MiB);
  EXPECT_EQ(test::decided(p), "interleave:0-7");
  EXPECT_NE(p.reasons[1].find("over the budget"), std::string::npos) << p.reasons[1];
  EXPECT_EQ(p.copies[0].bytes_per_node, 100 * MiB);
  // An explicit budget changes the decision.
  plan_request r;
  r.size = 800 * MiB;
  r.budget = 8 * GiB;
  EXPECT_EQ(test::decided(plan(t, r)), "replicate:0-7");
  // CPUs on two nodes → one replica each.
  r = {};
  r.size = 256 * MiB;
  r.cpus = {0, 1, 6};
  EXPECT_EQ(test::decided(plan(t, r)), "replicate:0,3");
  r.cpus = {2, 3};
  EXPECT_EQ(test::decided(plan(t, r)), "bind:1");
}

TEST(SyntheticTopology, CpuLessNodesGetNoReplicaButTakeSpill) {
  // Node 2 hangs off the machine: memory, no CPUs (a CXL expander or a memory-only node).
  const auto t = topology::from_synthetic("[numa(memory=64GiB)] pack:2 [numa(memory=32GiB)] core:2 pu:2");
  ASSERT_EQ(t.nodes().size(), 3u);
  const numa_node* cpuless = nullptr;
  for (const auto& n : t.nodes())
    if (n.memory == 64 * GiB) cpuless = &n;
  ASSERT_NE(cpuless, nullptr);
  EXPECT_TRUE(cpuless->cpus.empty());
  EXPECT_EQ(cpuless->local_cpus.size(), 8u);  // hwloc's locality: the whole machine
  const int c = cpuless->os_index;
  for (const auto& n : t.nodes()) {
    if (n.os_index != c) {
      EXPECT_EQ(n.cpus.size(), 4u);
    }
  }

  auto p = plan_of(t, 8 * GiB);
  EXPECT_EQ(p.consumer_nodes.size(), 2u);
  EXPECT_EQ(p.policy, numa_policy::replicate);
  for (const auto& copy : p.copies) EXPECT_NE(copy.replica_node, c);
  bool said = false;
  for (const auto& r : p.reasons) said |= r.find(fmt::format("node {} (no CPUs)", c)) != std::string::npos;
  EXPECT_TRUE(said) << "the CPU-less node is not mentioned";

  // 60 GiB: 30 GiB per CPU node is more than 90% of 32 GiB, so the CPU-less node takes a share.
  p = plan_of(t, 60 * GiB);
  EXPECT_EQ(test::decided(p), "interleave:0-2");
}

TEST(SyntheticTopology, NoHugePagesAnywhereFallsBackWithReasons) {
  const auto t = topology::from_synthetic("pack:2 [numa(memory=16GiB)] core:2 pu:1");
  for (const auto& n : t.nodes()) EXPECT_TRUE(n.hugepages.empty());
  plan_request r;
  r.size = 4 * GiB;
  r.pages = page_size::huge_2m;
  r.cpus = {0};
  auto p = plan(t, r);
  EXPECT_EQ(p.pages, page_size::thp);
  EXPECT_NE(p.reasons.at(p.reasons.size() - 2).find("no 2 MiB huge pages reserved"), std::string::npos);
  r.strict = true;
  EXPECT_THROW((void)plan(t, r), fallback_error);
  // Below one huge page: base pages.
  r = {};
  r.size = 100 * KiB;
  p = plan(t, r);
  EXPECT_EQ(p.pages, page_size::base);
  EXPECT_EQ(p.page_bytes, 4 * KiB);
}

TEST(SyntheticTopology, LargerThanTheHostIsAnErrorNamingTheSize) {
  const auto t = topology::from_synthetic("pack:2 [numa(memory=16GiB)] core:2 pu:1");
  for (auto policy : {numa_policy::automatic, numa_policy::interleave, numa_policy::local, numa_policy::bind}) {
    try {
      (void)plan_of(t, 40 * GiB, policy);
      ADD_FAILURE() << "planned 40 GiB on a 32 GiB host with " << to_string(policy);
    } catch (const out_of_memory_error& e) {
      EXPECT_NE(std::string(e.what()).find("40 GiB"), std::string::npos) << e.what();
    }
  }
}

TEST(SyntheticTopology, MalformedDescriptionIsAUsageError) {
  EXPECT_THROW((void)topology::from_synthetic("pack:2 banana:3"), usage_error);
  EXPECT_THROW((void)topology::from_synthetic(""), usage_error);
}

}  // namespace
}  // namespace onecopy
