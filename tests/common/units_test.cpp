// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "onecopy/error.hpp"
#include "onecopy/units.hpp"

namespace onecopy {
namespace {

TEST(ParseSizeTest, AcceptsBinaryUnitsInEverySpelling) {
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("4K"), 4096u);
  EXPECT_EQ(parse_size("4KiB"), 4096u);
  EXPECT_EQ(parse_size("4kb"), 4096u);
  EXPECT_EQ(parse_size("512M"), 512 * MiB);
  EXPECT_EQ(parse_size("512 MiB"), 512 * MiB);
  EXPECT_EQ(parse_size("1G"), GiB);
  EXPECT_EQ(parse_size("1.5GiB"), GiB + GiB / 2);
  EXPECT_EQ(parse_size("2T"), 2048 * GiB);
}

TEST(ParseSizeTest, RejectsGarbageWithTheTextInTheMessage) {
  for (const char* bad : {"", "G", "12X", "-4", "1.2.3G", "99999999999999999999", "20000000T"}) {
    try {
      (void)parse_size(bad);
      FAIL() << "accepted '" << bad << "'";
    } catch (const usage_error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(FormatBytesTest, UsesBinaryUnitsWithOneDecimal) {
  EXPECT_EQ(format_bytes(100), "100 B");
  EXPECT_EQ(format_bytes(4096), "4 KiB");
  EXPECT_EQ(format_bytes(GiB + GiB / 2), "1.5 GiB");
  EXPECT_EQ(format_bytes(2 * MiB), "2 MiB");
}

TEST(OsErrorTest, NamesTheCallTheObjectAndTheCause) {
  try {
    throw_os_error(ENOSPC, "fallocate(/dev/shm/x, 8 GiB)");
  } catch (const no_space_error& e) {
    EXPECT_STREQ(e.what(), "fallocate(/dev/shm/x, 8 GiB): No space left on device");
    EXPECT_EQ(e.err(), ENOSPC);
    EXPECT_EQ(e.call(), "fallocate");
    EXPECT_EQ(e.path(), "/dev/shm/x");
    return;
  }
  FAIL() << "ENOSPC did not map to no_space_error";
}

TEST(OsErrorTest, KeepsTheCallAndThePathApart) {
  const os_error relative(ENOENT, "open(model (1).safetensors) to load it");
  EXPECT_EQ(relative.call(), "open");
  EXPECT_EQ(relative.path(), "model (1).safetensors");
  const os_error no_path(EINVAL, "mbind(bind:3, 1 GiB)");
  EXPECT_EQ(no_path.call(), "mbind");
  EXPECT_TRUE(no_path.path().empty());
  const os_error no_call(EEXIST, "create segment 'w': /dev/shm/onecopy-0/w exists");
  EXPECT_EQ(no_call.call(), "");
  EXPECT_TRUE(no_call.path().empty());
  const os_error given(ENOENT, "input model.bin", "model.bin");
  EXPECT_EQ(given.path(), "model.bin");
  const os_error unclosed(EIO, "write(/tmp/a");
  EXPECT_EQ(unclosed.call(), "write");
  EXPECT_TRUE(unclosed.path().empty());
}

TEST(OsErrorTest, MapsErrnoToNamedErrors) {
  EXPECT_THROW(throw_os_error(ENOMEM, "mmap"), out_of_memory_error);
  EXPECT_THROW(throw_os_error(EMFILE, "open"), fd_limit_error);
  EXPECT_THROW(throw_os_error(ENFILE, "open"), fd_limit_error);
  EXPECT_THROW(throw_os_error(EACCES, "open"), permission_error);
  EXPECT_THROW(throw_os_error(EIO, "read"), os_error);
}

}  // namespace
}  // namespace onecopy
