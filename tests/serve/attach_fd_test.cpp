// SPDX-License-Identifier: Apache-2.0
// attach_fd (engine): attaching from a descriptor received from elsewhere, as `serve` clients do.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "onecopy/engine/attach_fd.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

class AttachFdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<test::temp_dir>();
    store s = store::at(dir_->path());
    draft d = s.create("w", layout::bytes(10'000));
    for (auto& b : d.bytes()) b = std::byte{0x42};
    checksum_ = std::move(d).publish().info().checksum;
  }
  std::unique_ptr<test::temp_dir> dir_;
  std::uint64_t checksum_ = 0;
};

TEST_F(AttachFdTest, AttachesAReadOnlyFdAndLeavesTheCallersFdOpen) {
  const int fd = ::open((dir_->path() / "w").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  {
    const segment s = attach_fd("w", fd, {.verify = true});
    EXPECT_EQ(s.name(), "w");
    EXPECT_EQ(s.info().checksum, checksum_);
    EXPECT_NE(s.fd(), fd);
    EXPECT_EQ(s.path(), "/proc/self/fd/" + std::to_string(s.fd()));
    EXPECT_EQ(s.bytes().size(), 10'000u);
  }
  EXPECT_EQ(::fcntl(fd, F_GETFD), FD_CLOEXEC) << "attach_fd closed the caller's fd";
  ::close(fd);
}

TEST_F(AttachFdTest, RefusesWriteOnlyAndClosedFdsAndFilesThatAreNotSegments) {
  const auto other = dir_->path() / "not-a-segment";
  std::ofstream(other) << std::string(8192, 'x');
  const int wo = ::open(other.c_str(), O_WRONLY | O_CLOEXEC);
  try {
    (void)attach_fd("x", wo);
    FAIL() << "expected os_error";
  } catch (const os_error& e) {
    EXPECT_EQ(e.err(), EBADF);
  }
  ::close(wo);
  EXPECT_THROW((void)attach_fd("x", -1), os_error);
  const int ro = ::open(other.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_THROW((void)attach_fd("x", ro), format_error);
  ::close(ro);
}

}  // namespace
}  // namespace onecopy
