// SPDX-License-Identifier: Apache-2.0
// The write-fault report (write_fault.hpp): a write into an attached segment still kills the
// process with SIGSEGV, after one line naming the segment, offset and tensor; other faults and
// an uninstalled report leave the bare signal.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>

#include "onecopy/engine/store.hpp"
#include "onecopy/engine/write_fault.hpp"
#include "onecopy/sys/memory.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

class WriteFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    draft d = s_.create("w", layout::bundle({{"a", dtype::u8, {64}}, {"b", dtype::f32, {16}}}));
    (void)std::move(d).publish();
  }
  // In the death-test child: the kernel's default action under the report, not a sanitizer's.
  static void die_writing(volatile std::byte* p, bool report) {
    ::signal(SIGSEGV, SIG_DFL);
    if (report) install_write_fault_report();
    *p = std::byte{1};
    std::_Exit(0);
  }
  test::temp_dir dir_;
  store s_ = store::at(dir_.path());
};

TEST_F(WriteFaultTest, WriteNamesSegmentOffsetAndTensorThenDiesOfSigsegv) {
  const segment seg = s_.attach("w");
  auto* p = const_cast<std::byte*>(seg.tensor("b").bytes.data()) + 5;
  EXPECT_EXIT(die_writing(p, true), ::testing::KilledBySignal(SIGSEGV),
              "onecopy: write to read-only onecopy segment 'w' \\(offset 69, tensor 'b' byte 5\\) "
              "at 0x[0-9a-f]+: segments are shared and read-only");
}

TEST_F(WriteFaultTest, PublishedSegmentOfTheCreatorIsReportedToo) {
  const segment seg = s_.create("v", layout::bytes(4096)).publish();
  auto* p = const_cast<std::byte*>(seg.bytes().data());
  EXPECT_EXIT(die_writing(p, true), ::testing::KilledBySignal(SIGSEGV),
              "segment 'v' \\(offset 0\\)");
}

TEST_F(WriteFaultTest, AWriteToTheHeaderRegionAfterTheDataSaysSo) {
  // Format v2: the header region follows the data, in the same mapping.
  const segment seg = s_.attach("w");
  auto* p = const_cast<std::byte*>(seg.bytes().data()) + seg.info().file_size - 100;
  EXPECT_EXIT(die_writing(p, true), ::testing::KilledBySignal(SIGSEGV), "segment 'w' \\(its header\\)");
}

TEST_F(WriteFaultTest, OtherFaultsAndAnUninstalledReportLeaveTheBareSignal) {
  {
    const sys::mapping other = sys::map_private_anonymous(4096);
    sys::protect_read_only(other.bytes(), "a private page");
    EXPECT_EXIT(die_writing(other.data(), true), ::testing::KilledBySignal(SIGSEGV), "^$");
  }
  const segment seg = s_.attach("w");
  auto* p = const_cast<std::byte*>(seg.bytes().data());
  EXPECT_EXIT(
      {
        ::signal(SIGSEGV, SIG_DFL);
        install_write_fault_report();
        uninstall_write_fault_report();
        if (write_fault_report_installed()) std::_Exit(3);
        *reinterpret_cast<volatile std::byte*>(p) = std::byte{1};
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "^$");
}

}  // namespace
}  // namespace onecopy
