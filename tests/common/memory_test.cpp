// SPDX-License-Identifier: Apache-2.0
// sys::map_shared and the other memory calls against real files, real forks and the real
// per-process limit on mappings.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/sys/memory.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

// Lines of /proc/self/maps that name path: the live mappings of that file.
long mappings_of(const std::filesystem::path& path) {
  const std::string maps = sys::read_text("/proc/self/maps");
  long n = 0;
  for (std::size_t at = maps.find(path.string()); at != std::string::npos; at = maps.find(path.string(), at + 1)) ++n;
  return n;
}

class MemoryTest : public ::testing::Test {
 protected:
  // A 2-page file filled with a pattern, through write(2).
  std::filesystem::path make_file(const std::string& name) {
    const auto path = dir_.path() / name;
    const sys::unique_fd fd = sys::open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    sys::truncate(fd.get(), 2 * page_, path);
    const std::string text = "onecopy";
    EXPECT_EQ(::pwrite(fd.get(), text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
    return path;
  }
  test::temp_dir dir_;
  const std::size_t page_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
};

TEST_F(MemoryTest, MapSharedShowsTheFileAndUnmapsWhenTheLastOwnerGoes) {
  const auto path = make_file("a");
  const sys::unique_fd fd = sys::open(path, O_RDWR);
  sys::mapping writable = sys::map_shared(fd.get(), 2 * page_, sys::access::read_write, path);
  ASSERT_EQ(writable.size(), 2 * page_);
  EXPECT_EQ(std::memcmp(writable.data(), "onecopy", 7), 0);
  writable.data()[page_] = std::byte{42};  // shared: another mapping of the file sees it
  {
    const sys::mapping reader = sys::map_shared(fd.get(), 2 * page_, sys::access::read_only, path);
    EXPECT_EQ(reader.bytes()[page_], std::byte{42});
    EXPECT_EQ(mappings_of(path), 2);
  }
  EXPECT_EQ(mappings_of(path), 1);
  {
    const sys::mapping copy = sys::map_private(fd.get(), 2 * page_, path);
    copy.data()[page_] = std::byte{43};  // copy-on-write: the file and the shared mapping keep 42
    EXPECT_EQ(writable.data()[page_], std::byte{42});
  }
  sys::mapping moved = std::move(writable);
  EXPECT_FALSE(writable);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
  EXPECT_EQ(writable.size(), 0u);
  EXPECT_EQ(moved.data()[page_], std::byte{42});
  EXPECT_EQ(mappings_of(path), 1);
  moved = sys::mapping();
  EXPECT_EQ(mappings_of(path), 0);
}

TEST_F(MemoryTest, MapSharedErrorNamesTheCallThePathAndTheCause) {
  const auto path = make_file("b");
  const sys::unique_fd read_only = sys::open(path, O_RDONLY);
  try {
    (void)sys::map_shared(read_only.get(), 2 * page_, sys::access::read_write, path);
    FAIL() << "a writable shared mapping of a read-only descriptor succeeded";
  } catch (const permission_error& e) {
    EXPECT_EQ(e.err(), EACCES);
    EXPECT_EQ(std::string(e.what()), "mmap(" + path.string() + ", 8 KiB, PROT_READ|PROT_WRITE): Permission denied");
  }
  try {
    (void)sys::map_shared(read_only.get(), 0, sys::access::read_only, path);
    FAIL() << "an empty mapping succeeded";
  } catch (const os_error& e) {
    EXPECT_EQ(e.err(), EINVAL);
    EXPECT_NE(std::string(e.what()).find("mmap(" + path.string() + ", 0 B, PROT_READ): Invalid argument"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(MemoryTest, ProtectReadOnlyMakesWritesFault) {
  const auto path = make_file("c");
  const sys::unique_fd fd = sys::open(path, O_RDWR);
  const sys::mapping map = sys::map_shared(fd.get(), 2 * page_, sys::access::read_write, path);
  sys::protect_read_only(map.bytes(), path);
  EXPECT_EQ(map.bytes()[0], std::byte{'o'});  // still readable
  EXPECT_EXIT(
      {
        std::signal(SIGSEGV, SIG_DFL);  // the kernel's fault, not a sanitizer's report of it
        map.data()[0] = std::byte{1};
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
  try {
    sys::protect_read_only(map.bytes().subspan(1), path);  // not page-aligned
    FAIL() << "mprotect of an unaligned range succeeded";
  } catch (const os_error& e) {
    EXPECT_EQ(std::string(e.what()), "mprotect(" + path.string() + ", PROT_READ): Invalid argument");
  }
}

TEST_F(MemoryTest, SharedAnonymousMemoryIsSharedWithForkedChildren) {
  const sys::mapping shared = sys::map_shared_anonymous(page_);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    shared.data()[0] = std::byte{7};
    std::_Exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(shared.data()[0], std::byte{7});

  sys::mapping mine = sys::map_private_anonymous(page_);
  EXPECT_EQ(sys::advise(mine.bytes(), sys::advice::populate_write), 0);
  EXPECT_EQ(mine.bytes()[page_ - 1], std::byte{0});
  EXPECT_EQ(sys::advise(mine.bytes().subspan(1), sys::advice::populate_write), EINVAL);
}

TEST_F(MemoryTest, BindMemoryPlacesOnANodeWithMemoryAndNamesABadOne) {
  const auto nodes = sys::parse_cpulist(sys::read_text_if_exists("/sys/devices/system/node/has_memory").value_or("0"));
  ASSERT_FALSE(nodes.empty());
  const sys::mapping map = sys::map_private_anonymous(4 * page_);
  sys::bind_memory(map.bytes(), sys::memory_policy::bind, std::vector<int>{nodes.front()});
  EXPECT_EQ(sys::advise(map.bytes(), sys::advice::populate_write), 0);
  sys::bind_memory(map.bytes(), sys::memory_policy::interleave, nodes);
  try {
    sys::bind_memory(map.bytes(), sys::memory_policy::bind, std::vector<int>{1000});
    FAIL() << "mbind to node 1000 succeeded";
  } catch (const os_error& e) {
    EXPECT_EQ(e.err(), EINVAL);
    EXPECT_EQ(std::string(e.what()), "mbind(bind:1000, 16 KiB): Invalid argument");
  }
  EXPECT_THROW(sys::bind_memory(map.bytes(), sys::memory_policy::bind, std::vector<int>{5000}), usage_error);
}

// In a child: split one mapping into single pages until the process is at vm.max_map_count,
// then map a file. Exit 0 when the hint and the ENOMEM error say what ran out.
[[noreturn]] void map_at_the_mapping_limit(const std::filesystem::path& path, std::size_t page) {
  const auto limit = static_cast<std::size_t>(sys::read_number("/proc/sys/vm/max_map_count").value_or(0));
  if (limit == 0 || limit > 1'000'000) std::_Exit(77);
  auto* area = static_cast<std::byte*>(::mmap(nullptr, limit * page, PROT_READ | PROT_WRITE,
                                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  if (area == MAP_FAILED) std::_Exit(10);
  // Every other page read-only: each such page adds two areas. Stop 8 short of the limit.
  const auto count = [] {
    const auto maps = sys::read_text("/proc/self/maps");
    return static_cast<std::size_t>(std::count(maps.begin(), maps.end(), '\n'));
  };
  std::size_t next = 1;
  for (std::size_t have = count(); have + 8 < limit; have += 2, next += 2)
    if (::mprotect(area + next * page, page, PROT_READ) != 0) std::_Exit(11);
  if (sys::mapping_limit_hint().find("vm.max_map_count is") == std::string::npos) std::_Exit(12);
  const sys::unique_fd fd = sys::open(path, O_RDONLY);
  std::vector<sys::mapping> held;
  try {
    for (int i = 0; i < 64; ++i) {
      (void)::mprotect(area + next * page, page, PROT_READ);  // fails with ENOMEM at the limit
      next += 2;
      held.push_back(sys::map_shared(fd.get(), page, sys::access::read_only, path));
    }
  } catch (const out_of_memory_error& e) {
    const std::string what = e.what();
    std::_Exit(what.find("mmap(" + path.string()) != std::string::npos &&
                       what.find("vm.max_map_count") != std::string::npos
                   ? 0
                   : 13);
  }
  std::_Exit(14);
}

TEST_F(MemoryTest, RunningOutOfMappingsIsNamedWithTheLimit) {
  if (test::under_asan) GTEST_SKIP() << "under ASan its allocator needs mappings of its own at the limit";
  const auto path = make_file("d");
  EXPECT_EXIT(map_at_the_mapping_limit(path, page_), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace onecopy
