// SPDX-License-Identifier: Apache-2.0
// The reader fleet (fleet/) that `onecopy demo` and bench/multiproc share: every way of
// getting the bytes gives the published checksum, and only the copying ways cost a copy each.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/fleet/fleet.hpp"
#include "onecopy/units.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

using fleet::reader_mode;
using fleet::reader_source;

TEST(ReaderSourceTest, ArgumentsRoundTrip) {
  for (const reader_source& s : {reader_source{reader_mode::segment, "weights", 0},
                                 reader_source{reader_mode::posix_shm, "/x", 0},
                                 reader_source{reader_mode::file, "/tmp/a:b", 0},
                                 reader_source{reader_mode::pipe, "", 12345}}) {
    const reader_source back = reader_source::parse(s.to_arg());
    EXPECT_EQ(back.mode, s.mode) << s.to_arg();
    EXPECT_EQ(back.name, s.name) << s.to_arg();
    EXPECT_EQ(back.size, s.size) << s.to_arg();
  }
  EXPECT_THROW((void)reader_source::parse("pipe:12x"), usage_error);
  EXPECT_THROW((void)reader_source::parse("file:"), usage_error);
  EXPECT_THROW((void)reader_source::parse(""), usage_error);
}

class FleetTest : public ::testing::Test {
 protected:
  static constexpr std::uint64_t size = 8 * MiB;
  static constexpr int readers = 3;

  void SetUp() override {
    bytes_.resize(size);
    for (std::size_t i = 0; i < size; ++i) bytes_[i] = static_cast<std::byte>((i * 2654435761u) >> 13);
  }

  test::temp_dir dir_;
  std::vector<std::byte> bytes_;
};

TEST_F(FleetTest, EveryWayOfGettingTheBytesGivesThePublishedChecksum) {
  const test::scoped_env env("ONECOPY_DIR", (dir_.path() / "store").string());
  store s = store::from_environment();
  std::uint64_t published = 0;
  {
    draft d = s.create("fleet", layout::bytes(size));
    std::memcpy(d.bytes().data(), bytes_.data(), size);
    published = std::move(d).publish().info().checksum;
  }
  const std::string shm = "/onecopy-fleet-test-" + std::to_string(::getpid());
  const int fd = ::shm_open(shm.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, bytes_.data(), size), static_cast<ssize_t>(size));
  ::close(fd);
  const auto file = dir_.path() / "copy.bin";
  {
    const int f = ::open(file.c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_EQ(::write(f, bytes_.data(), size), static_cast<ssize_t>(size));
    ::close(f);
  }
  const auto exe = test::built("onecopy");
  struct way {
    reader_source source;
    bool copies;
  };
  for (const way& w : {way{{reader_mode::segment, "fleet", 0}, false}, way{{reader_mode::posix_shm, shm, 0}, false},
                       way{{reader_mode::file, file.string(), 0}, true}, way{{reader_mode::pipe, "", size}, true}}) {
    SCOPED_TRACE(w.source.to_arg());
    const auto r = fleet::run_readers(exe, w.source, readers, w.source.mode == reader_mode::pipe ? bytes_ : std::span<const std::byte>());
    ASSERT_EQ(r.readers.size(), static_cast<std::size_t>(readers));
    EXPECT_TRUE(r.checksums_agree());
    EXPECT_EQ(r.readers.front().checksum, published);
    // What getting the bytes added to the readers' memory: one shared copy, or one each (plus,
    // under the sanitizers, each reader's shadow of what it read: an eighth).
    const double added = static_cast<double>(r.total_memory - std::min(r.total_memory, r.total_memory_before));
    if (w.copies) {
      EXPECT_GT(added, 2.5 * size);
    } else {
      EXPECT_LT(added, 2.0 * size);
    }
  }
  ::shm_unlink(shm.c_str());
}

TEST_F(FleetTest, PipePayloadMustMatchTheAnnouncedSize) {
  EXPECT_THROW((void)fleet::run_readers(test::built("onecopy"), reader_source{reader_mode::pipe, "", size + 1}, 1, bytes_),
               usage_error);
}

}  // namespace
}  // namespace onecopy
