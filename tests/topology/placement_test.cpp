// SPDX-License-Identifier: Apache-2.0
// The one placement vocabulary (topology/placement.hpp): every spelling --numa, numa= and
// --pages accept, what needs the planner, and the text a placement prints as.
#include <gtest/gtest.h>

#include "onecopy/error.hpp"
#include "onecopy/topology/placement.hpp"

namespace onecopy {
namespace {

TEST(PlacementTest, ParsesEveryPolicy) {
  EXPECT_EQ(placement::parse("auto"), placement::automatic());
  EXPECT_EQ(placement::parse("replicate"), placement::replicate_on());
  EXPECT_EQ(placement::parse("bind:8,0,0"), placement::bind_to({0, 8}));
  EXPECT_EQ(placement::parse("Interleave:0-3").nodes, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(placement::parse("interleave"), placement::interleave_over());
  EXPECT_EQ(placement::parse("replicate:1,0"), placement::replicate_on({0, 1}));
  for (const char* bad : {"", "spread", "bind:", "auto:1", "local:0", "none:1", "interleave:x", "replicate:"})
    EXPECT_THROW((void)placement::parse(bad), usage_error) << bad;
}

TEST(PlacementTest, NoneAndDefaultAreLocal) {
  // Once "none" meant the kernel's default here, local to the planner, and auto to `put` when
  // --gpus was given; now it is one thing: no NUMA policy, pages where they are first touched.
  EXPECT_EQ(placement::parse("none"), placement::local());
  EXPECT_EQ(placement::parse("default"), placement::local());
  EXPECT_EQ(placement::parse("LOCAL"), placement::local());
}

TEST(PlacementTest, PrintsWhatItParses) {
  for (const char* text : {"auto", "local", "bind:1", "bind:0-3", "interleave", "interleave:0,2", "replicate",
                           "replicate:0-1"})
    EXPECT_EQ(placement::parse(text).to_string(), text);
  EXPECT_EQ(placement::parse("none").to_string(), "local");
}

TEST(PlacementTest, OnlyRequestsNeedThePlanner) {
  for (const char* planned : {"auto", "replicate", "replicate:0,1", "bind"})
    EXPECT_TRUE(placement::parse(planned).needs_plan()) << planned;
  for (const char* written : {"local", "none", "bind:0", "interleave", "interleave:0,1"})
    EXPECT_FALSE(placement::parse(written).needs_plan()) << written;
}

TEST(PlacementTest, PageSizes) {
  EXPECT_EQ(parse_page_size("auto"), page_size::automatic);
  EXPECT_EQ(parse_page_size("1G"), page_size::huge_1g);
  EXPECT_EQ(parse_page_size("2MiB"), page_size::huge_2m);
  EXPECT_EQ(parse_page_size("thp"), page_size::thp);
  EXPECT_EQ(parse_page_size("base"), page_size::base);
  EXPECT_EQ(to_string(parse_page_size("4K")), "4k");
  EXPECT_THROW((void)parse_page_size("16m"), usage_error);
}

}  // namespace
}  // namespace onecopy
