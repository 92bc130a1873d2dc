// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <fcntl.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy {
namespace {

TEST(CpuListTest, ParsesAndFormatsRanges) {
  EXPECT_EQ(sys::parse_cpulist("0-3,8,10-11\n"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(sys::parse_cpulist(""), std::vector<int>{});
  EXPECT_EQ(sys::format_cpulist({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_THROW((void)sys::parse_cpulist("3-1"), usage_error);
  EXPECT_THROW((void)sys::parse_cpulist("a"), usage_error);
}

TEST(SysOpenTest, ErrorNamesThePath) {
  try {
    (void)sys::open("/nonexistent/onecopy/file", O_RDONLY);
    FAIL();
  } catch (const os_error& e) {
    EXPECT_EQ(e.err(), ENOENT);
    EXPECT_STREQ(e.what(), "open(/nonexistent/onecopy/file): No such file or directory");
  }
  EXPECT_FALSE(sys::open_if_exists("/nonexistent/onecopy/file", O_RDONLY));
}

TEST(SysReadTest, ReadsSysfsNumbers) {
  EXPECT_TRUE(sys::read_number("/proc/sys/kernel/pid_max").has_value());
  EXPECT_FALSE(sys::read_number("/nonexistent").has_value());
}

}  // namespace
}  // namespace onecopy
