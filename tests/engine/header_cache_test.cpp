// SPDX-License-Identifier: Apache-2.0
// A store reads and checks a segment's header once per unchanged file (header_cache): attaching
// the same file again shares that header, and any change to the file since (write, truncation,
// replacement) makes attach read and check it again, so a changed file is still named, never
// trusted or mapped past its end.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/units.hpp"
#include "pattern.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

segment put(store& s, const std::string& name, std::uint64_t seed, bool replace = false) {
  create_options opts;
  opts.replace = replace;
  opts.metadata = R"({"format":"test"})";
  draft d = s.create(name, layout::bytes(64 * KiB), opts);
  test::fill_pattern(d.bytes(), seed, 0);
  return std::move(d).publish();
}

// Runs f on the published file made writable for a moment, as only its owner or root can.
template <class F>
void edit_file(const std::filesystem::path& path, F&& f) {
  // Kernels before 6.13 keep coarse file times (a tick): change the file a tick after the
  // attach that read it, as any edit by hand is. Newer ones (this project's CI) need no wait.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  f(fd);
  ::close(fd);
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
}

std::string attach_error(const store& s, const std::string& name) {
  try {
    (void)s.attach(name);
  } catch (const format_error& e) {
    return e.what();
  }
  return "(attached without error)";
}

TEST(HeaderCacheTest, AttachingAnUnchangedFileAgainSharesItsCheckedHeader) {
  const test::temp_dir dir;  // tmpfs: /dev/shm
  store s = store::at(dir.path() / "store");
  (void)put(s, "w", 1);
  const segment a = s.attach("w");
  const segment b = s.attach("w");
  EXPECT_EQ(&a.info(), &b.info());
  EXPECT_EQ(a.info().checksum, b.info().checksum);
  EXPECT_EQ(b.path(), dir.path() / "store" / "w");
  EXPECT_EQ(&a.path(), &b.path());
  EXPECT_TRUE(test::matches_pattern(b.bytes(), 1));
  // A copy of the store shares what it has read.
  const store copy = s;
  EXPECT_EQ(&copy.attach("w").info(), &a.info());
}

TEST(HeaderCacheTest, AHeaderWrittenSinceTheLastAttachIsCheckedAgainAndNamed) {
  const test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  const auto path = put(s, "w", 2).path();
  const std::uint64_t region = s.attach("w").info().region_size;
  // One byte of the tensor table (the region's first bytes), size and everything else unchanged.
  edit_file(path, [&](int fd) {
    const auto at = static_cast<off_t>(std::filesystem::file_size(path) - region);
    char byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, at), 1);
    byte = static_cast<char>(byte ^ 0x5a);
    ASSERT_EQ(::pwrite(fd, &byte, 1, at), 1);
  });
  // Named by the first check the byte fails (its field, else the region's digest).
  const std::string msg = attach_error(s, "w");
  EXPECT_EQ(msg.find(path.string() + ": "), 0u) << msg;
}

TEST(HeaderCacheTest, AFileTruncatedSinceTheLastAttachIsNamedNotMapped) {
  const test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  const auto path = put(s, "w", 3).path();
  const std::uint64_t size = s.attach("w").info().file_size;
  edit_file(path, [&](int fd) { ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size - 4 * KiB)), 0); });
  const std::string msg = attach_error(s, "w");
  EXPECT_EQ(msg.find(path.string() + ": "), 0u) << msg;
}

TEST(HeaderCacheTest, AReplacedSegmentIsAttachedWithItsNewHeader) {
  const test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  (void)put(s, "w", 4);
  const segment old = s.attach("w");
  const segment fresh = put(s, "w", 5, /*replace=*/true);
  const segment again = s.attach("w");
  EXPECT_NE(&again.info(), &old.info());
  EXPECT_EQ(again.info().checksum, fresh.info().checksum);
  EXPECT_NE(again.info().checksum, old.info().checksum);
  EXPECT_TRUE(test::matches_pattern(again.bytes(), 5));
  EXPECT_TRUE(test::matches_pattern(old.bytes(), 4));  // the old mapping keeps the old file
}

TEST(HeaderCacheTest, OnADiskFilesystemEveryAttachChecksTheHeader) {
  // Disk filesystems give a removed file's inode number to the next new file at once.
  const test::temp_dir dir("/var/tmp");
  store s = store::at(dir.path() / "store");
  (void)put(s, "w", 6);
  const segment a = s.attach("w");
  if (a.info().backing != backing_kind::directory) GTEST_SKIP() << "/var/tmp is a tmpfs here";
  const segment b = s.attach("w");
  EXPECT_NE(&a.info(), &b.info());
  EXPECT_EQ(a.info().checksum, b.info().checksum);
}

TEST(HeaderCacheTest, ManyFilesDoNotGrowItWithoutBound) {
  const test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  (void)put(s, "first", 7);
  const segment first = s.attach("first");
  // More files than it keeps (256), each attached once: the first one's header is dropped.
  for (int i = 0; i < 300; ++i) {
    const std::string name = "n" + std::to_string(i);
    (void)put(s, name, 8);
    (void)s.attach(name);
  }
  const segment again = s.attach("first");
  EXPECT_NE(&again.info(), &first.info());
  EXPECT_EQ(again.info().checksum, first.info().checksum);
}

TEST(HeaderCacheTest, ThreadsAttachingTheSameFilesAllGetTheirOwnHeaders) {
  const test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  std::vector<std::uint64_t> sums;
  for (unsigned i = 0; i < 8; ++i) sums.push_back(put(s, "t" + std::to_string(i), 10 + i).info().checksum);
  std::atomic<int> wrong{0};
  std::vector<std::jthread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const int k = (i + t) % 8;
        if (s.attach("t" + std::to_string(k)).info().checksum != sums[static_cast<std::size_t>(k)]) ++wrong;
      }
    });
  threads.clear();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace onecopy
