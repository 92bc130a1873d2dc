// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "support/test_support.hpp"

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

void write_file(const std::filesystem::path& path, std::string_view text) {
  const sys::unique_fd fd = sys::open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_EQ(::write(fd.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
}

TEST(SysTruncateTest, SizesTheFileOrNamesItAndTheCause) {
  test::temp_dir dir;
  const auto path = dir.path() / "f";
  {
    const sys::unique_fd fd = sys::open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    sys::truncate(fd.get(), 8192, path);
    EXPECT_EQ(sys::fstat(fd.get(), path).size, 8192u);
  }
  const sys::unique_fd read_only = sys::open(path, O_RDONLY);
  try {
    sys::truncate(read_only.get(), 4096, path);
    FAIL() << "ftruncate through a read-only descriptor succeeded";
  } catch (const os_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("ftruncate(" + path.string() + ", 4 KiB): ", 0), 0u) << e.what();
  }
}

TEST(SysRenameTest, NoReplaceRefusesAnExistingNameWithEexist) {
  test::temp_dir dir;
  const auto from = dir.path() / ".w.1.tmp";
  const auto to = dir.path() / "w";
  write_file(from, "new");
  write_file(to, "old");
  try {
    sys::rename_noreplace(from, to);
    FAIL() << "renameat2(RENAME_NOREPLACE) replaced an existing file";
  } catch (const os_error& e) {
    EXPECT_EQ(e.err(), EEXIST);
    EXPECT_EQ(std::string(e.what()),
              "renameat2(" + from.string() + ", " + to.string() + ", RENAME_NOREPLACE): File exists");
  }
  EXPECT_EQ(sys::read_text(to), "old");  // both files untouched
  EXPECT_EQ(sys::read_text(from), "new");
  sys::rename(from, to);  // the replacing rename takes the name
  EXPECT_EQ(sys::read_text(to), "new");
  EXPECT_FALSE(sys::lstat_if_exists(from));
  sys::rename_noreplace(to, from);  // a free name is taken
  EXPECT_EQ(sys::read_text(from), "new");
  EXPECT_THROW(sys::rename(to, from), os_error);  // to is gone now: ENOENT
}

TEST(SysReadTest, ReadsSysfsNumbers) {
  EXPECT_TRUE(sys::read_number("/proc/sys/kernel/pid_max").has_value());
  EXPECT_FALSE(sys::read_number("/nonexistent").has_value());
}

}  // namespace
}  // namespace onecopy
