// SPDX-License-Identifier: Apache-2.0
// Attach keeps no descriptor per mapping, and the store keeps no lock file per name: a process
// attaches more segments than RLIMIT_NOFILE allows files open, and publish/remove/open_or_create
// leave nothing in .locks.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

std::size_t entries_in(const std::filesystem::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator(); ++it) ++n;
  return n;
}

std::size_t lines_mentioning(const std::string& file, const std::string& what) {
  std::ifstream in(file);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(what) != std::string::npos;
  return n;
}

TEST(DescriptorTest, AttachKeepsNoDescriptorSoSegmentsOutnumberTheFdLimit) {
  test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  constexpr int limit = 64;
  constexpr int count = 400;  // over six times the limit
  for (int i = 0; i < count; ++i) (void)std::move(s.create("t" + std::to_string(i), layout::bytes(4096))).publish();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const rlimit lim{limit, limit};
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) std::_Exit(10);
    std::vector<segment> held;
    try {
      for (int i = 0; i < count; ++i) held.push_back(s.attach("t" + std::to_string(i)));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "attach %zu: %s\n", held.size(), e.what());
      std::_Exit(1);
    }
    // Every segment mapped, each once; descriptors stay what they were.
    if (lines_mentioning("/proc/self/maps", (dir.path() / "store").string() + "/t") != count) std::_Exit(2);
    if (entries_in("/proc/self/fd") >= limit) std::_Exit(3);
    for (const auto& seg : held)
      if (seg.fd() != -1 || seg.bytes().size() != 4096) std::_Exit(4);
    std::_Exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: attach failed, 2: mappings, 3: descriptors held, 4: fd kept";
}

TEST(DescriptorTest, MappersAreStillFoundWithoutADescriptor) {
  test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  (void)std::move(s.create("w", layout::bytes(4096), {.remove_when_unused = true})).publish();
  const segment held = s.attach("w");
  ASSERT_EQ(held.fd(), -1);
  EXPECT_EQ(store::pids_mapping(s.path_of("w")), std::vector<int>{::getpid()});
  EXPECT_TRUE(s.gc().removed_unused_segments.empty()) << "gc removed a segment this process maps";
  EXPECT_TRUE(s.exists("w"));
}

TEST(LockFileTest, PublishAndRemoveLeaveNoLockFiles) {
  test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  const auto locks = dir.path() / "store" / ".locks";
  for (int i = 0; i < 50; ++i) (void)std::move(s.create("n" + std::to_string(i), layout::bytes(4096))).publish();
  EXPECT_EQ(entries_in(locks), 0u) << "publish left lock files";
  (void)s.open_or_create("n0", layout::bytes(4096), {}, [](draft&) {});  // attaches
  (void)s.open_or_create("fresh", layout::bytes(4096), {}, [](draft&) {});  // creates
  { auto d = s.create("dropped", layout::bytes(4096)); }  // destroyed unpublished
  EXPECT_THROW((void)s.create("n1", layout::bytes(4096)), os_error);  // exists
  EXPECT_EQ(entries_in(locks), 0u) << "open_or_create, a dropped draft or a refused create left a lock file";
  for (int i = 0; i < 50; ++i) s.remove("n" + std::to_string(i));
  EXPECT_EQ(entries_in(locks), 0u) << "remove left lock files";
}

TEST(LockFileTest, ConcurrentCreatorsNeverBothHoldTheLock) {
  // 8 processes × 40 rounds race create+publish / remove on one name while lock files come
  // and go: each create either wins or is told the name is busy or exists; never two winners
  // (RENAME_NOREPLACE would make the second publish fail with EEXIST: counted as a failure).
  test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  (void)s.runtime_dir();
  std::vector<pid_t> kids;
  for (int k = 0; k < 8; ++k) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      for (int round = 0; round < 40; ++round) {
        try {
          auto d = s.create("race", layout::bytes(4096));
          (void)std::move(d).publish();
        } catch (const os_error& e) {
          if (e.err() != EBUSY && e.err() != EEXIST) std::_Exit(1);
          if (std::string(e.what()).find("appeared") != std::string::npos) std::_Exit(2);  // two holders
        }
        try {
          s.remove("race");
        } catch (const os_error& e) {
          if (e.err() != ENOENT) std::_Exit(3);
        } catch (const timeout_error&) {
        }
      }
      std::_Exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  (void)s.gc();
  EXPECT_EQ(entries_in(dir.path() / "store" / ".locks"), 0u);
}

}  // namespace
}  // namespace onecopy

namespace onecopy {
namespace {

TEST(DescriptorTest, AStoreDirectoryRemovedAndMadeAgainIsOpenedAgain) {
  // The store keeps its directory open from its first attach; when that directory is removed
  // and a new one made at the same path, attach finds the new one's segments.
  test::temp_dir dir;
  const auto root = dir.path() / "store";
  store s = store::at(root);
  (void)std::move(s.create("w", layout::bytes(4096))).publish();
  (void)s.attach("w");
  std::filesystem::remove_all(root);
  EXPECT_THROW((void)s.attach("w"), os_error);
  store other = store::at(root);
  draft d = other.create("w", layout::bytes(8192));
  d.bytes()[0] = std::byte{7};
  (void)std::move(d).publish();
  const segment seg = s.attach("w");
  EXPECT_EQ(seg.bytes().size(), 8192u);
  EXPECT_EQ(seg.bytes()[0], std::byte{7});
}

}  // namespace
}  // namespace onecopy
