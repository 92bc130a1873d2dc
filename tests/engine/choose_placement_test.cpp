// SPDX-License-Identifier: Apache-2.0
// choose_placement: the one function that turns what a caller asks (the CLI's --numa, Python's
// numa=, MPI's numa) into create_options, on recorded machines (tests/topologies).
#include <gtest/gtest.h>

#include <filesystem>

#include "onecopy/engine/choose_placement.hpp"
#include "onecopy/error.hpp"
#include "onecopy/units.hpp"

namespace onecopy {
namespace {

topology recorded(const char* file) {
  return topology::from_xml(std::filesystem::path(ONECOPY_TOPOLOGIES_DIR) / file);
}

constexpr const char* two_nodes = "aws-g4dn-metal-2numa-8xT4-hugepages.xml";

plan_request asking(std::string_view numa, std::uint64_t size = 64 * MiB) {
  plan_request r;
  r.size = size;
  r.where = placement::parse(numa);
  return r;
}

TEST(ChoosePlacementTest, WrittenPlacementsNeedNoProbe) {
  int probes = 0;
  auto probe = [&] {
    ++probes;
    return recorded(two_nodes);
  };
  for (const char* written : {"local", "none", "bind:1", "interleave", "interleave:0,1"}) {
    plan_request r = asking(written);
    r.pages = page_size::huge_2m;
    r.strict = true;
    create_options opts;
    opts.replicate_on = {7};  // stale: a choice replaces it
    EXPECT_FALSE(choose_placement(r, opts, probe).has_value()) << written;
    EXPECT_EQ(opts.where, r.where) << written;
    EXPECT_EQ(opts.asked, r.where.policy) << written;
    EXPECT_TRUE(opts.replicate_on.empty()) << written;
    EXPECT_EQ(opts.pages, page_size::huge_2m);
    EXPECT_TRUE(opts.strict);
  }
  EXPECT_EQ(probes, 0);
}

TEST(ChoosePlacementTest, AutoOnTwoNodesReplicates) {
  create_options opts;
  const auto p = choose_placement(asking("auto"), opts, [] { return recorded(two_nodes); });
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->policy, numa_policy::replicate);
  EXPECT_EQ(opts.replicate_on, (std::vector<int>{0, 1}));
  EXPECT_EQ(opts.where, placement::local());  // each replica is bound to its node by the engine
  EXPECT_EQ(opts.asked, numa_policy::automatic);
  EXPECT_EQ(opts.pages, page_size::automatic);  // the engine picks pages from its own backings
}

TEST(ChoosePlacementTest, AutoTooBigForReplicasInterleaves) {
  create_options opts;
  const auto p =
      choose_placement(asking("auto", 48 * GiB), opts, [] { return recorded("dual-epyc-7401-8numa-4xMI50.xml"); });
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->policy, numa_policy::interleave);
  EXPECT_EQ(opts.where, placement::interleave_over({0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_TRUE(opts.replicate_on.empty());
}

TEST(ChoosePlacementTest, BindWithoutNodesBindsNearTheReaders) {
  const topology t = recorded(two_nodes);
  plan_request r = asking("bind");
  r.gpus = {0};
  create_options opts;
  const auto p = choose_placement(r, opts, [&] { return t; });
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(opts.where, placement::bind_to(t.gpus()[0].local_nodes));
  EXPECT_EQ(opts.asked, numa_policy::bind);
}

TEST(ChoosePlacementTest, AlwaysPlansToExplainWrittenPlacements) {
  create_options opts;
  const auto p = choose_placement(asking("bind:1"), opts, [] { return recorded(two_nodes); }, planning::always);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(opts.where, placement::bind_to({1}));
  EXPECT_FALSE(p->reasons.empty());
}

TEST(ChoosePlacementTest, PlannerErrorsReachTheCaller) {
  create_options opts;
  EXPECT_THROW((void)choose_placement(asking("replicate:5"), opts, [] { return recorded(two_nodes); }), usage_error);
  EXPECT_THROW((void)choose_placement(asking("auto", 100 * 1024 * GiB), opts, [] { return recorded(two_nodes); }),
               out_of_memory_error);
}

}  // namespace
}  // namespace onecopy
