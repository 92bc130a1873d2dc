// SPDX-License-Identifier: Apache-2.0
// Bad input and exhausted resources: each gives a named error or a reasoned fallback; nothing
// crashes and nothing half-written remains.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "backings.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().filename() != ".locks") out.push_back(e.path().filename().string());
  return out;
}

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error)";
}

// In a death-test child: allow exactly the descriptors already open, so attach's open fails
// with EMFILE. Exits 3 when that is reported as fd_limit_error naming the file.
[[noreturn]] void attach_with_no_fds_left(const store& s, const std::string& name) {
  const rlimit lim{64, 64};
  ::setrlimit(RLIMIT_NOFILE, &lim);
  std::vector<int> taken;
  taken.reserve(64);
  for (int fd; (fd = ::dup(STDERR_FILENO)) >= 0;) taken.push_back(fd);  // every descriptor left
  try {
    (void)s.attach(name);
  } catch (const fd_limit_error& e) {
    for (int fd : taken) ::close(fd);  // sanitizer runtimes need a descriptor to inspect e
    std::_Exit(std::string(e.what()).find("store/" + name) != std::string::npos ? 3 : 4);
  } catch (...) {
    std::_Exit(5);
  }
  std::_Exit(0);
}

// In a death-test child: leave room for small allocations but not for the segment's mapping.
// Exits 3 when that is reported as out_of_memory_error naming mmap.
[[noreturn]] void attach_with_no_address_space_left(const store& s, const std::string& name) {
  std::ifstream status("/proc/self/status");
  std::string line;
  rlim_t vm = 0;
  while (std::getline(status, line))
    if (line.rfind("VmSize:", 0) == 0) vm = std::stoull(line.substr(7)) * 1024;
  const rlimit lim{vm + 32 * MiB, vm + 32 * MiB};
  ::setrlimit(RLIMIT_AS, &lim);
  try {
    (void)s.attach(name);
  } catch (const out_of_memory_error& e) {
    std::_Exit(std::string(e.what()).find("mmap(") != std::string::npos ? 3 : 4);
  } catch (...) {
    std::_Exit(5);
  }
  std::_Exit(0);
}

TEST(NameTest, InvalidNamesAreRejectedBeforeAnyFilesystemCall) {
  test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  for (const std::string& bad : {std::string("../x"), std::string(""), std::string(300, 'a'),
                                 std::string(".hidden"), std::string("a/b"), std::string("a b"),
                                 std::string("x@node1"), std::string("caf\xc3\xa9")}) {
    const auto msg = error_of<usage_error>([&] { (void)s.create(bad, layout::bytes(4096)); });
    EXPECT_NE(msg.find("invalid segment name"), std::string::npos) << bad << ": " << msg;
    EXPECT_THROW((void)s.attach(bad), usage_error) << bad;
    EXPECT_THROW(s.remove(bad), usage_error) << bad;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "store")) << "a rejected name touched the filesystem";
  EXPECT_NO_THROW((void)s.create(std::string(200, 'a'), layout::bytes(4096)));
}

TEST(CreateTest, ExistingNameIsAnErrorUnlessReplacing) {
  test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  (void)std::move(s.create("x", layout::bytes(4096))).publish();
  try {
    (void)s.create("x", layout::bytes(4096));
    FAIL() << "created over an existing segment";
  } catch (const os_error& e) {
    EXPECT_EQ(e.err(), EEXIST);
    EXPECT_NE(std::string(e.what()).find("store/x exists"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW((void)std::move(s.create("x", layout::bytes(8192), {.replace = true})).publish());
  EXPECT_EQ(s.attach("x").info().data_size, 8192u);
}

TEST(CreateTest, ZeroSizeIsRejected) {
  test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  EXPECT_NE(error_of<usage_error>([&] { (void)s.create("z", layout::bytes(0)); }).find("size is 0"), std::string::npos);
  EXPECT_THROW((void)s.create("z", layout::bundle({{"e", dtype::f32, {0, 3}}})), usage_error);
  EXPECT_TRUE(files_in(dir.path() / "store").empty());
}

TEST(CreateTest, ASizeNoFileCanHoldIsRejectedNotWrappedAround) {
  // Near 2^64 the file size (data + header region, rounded to pages) used to wrap around to a
  // small file behind a draft whose bytes() claimed 16 EiB.
  test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  for (const std::uint64_t size : {~std::uint64_t{0} - 4095, max_segment_data + 1}) {
    const std::string msg = error_of<usage_error>([&] { (void)s.create("huge", layout::bytes(size)); });
    EXPECT_NE(msg.find("create segment 'huge': its size, " + std::to_string(size) + " bytes, is more than"),
              std::string::npos) << msg;
  }
  EXPECT_TRUE(files_in(dir.path() / "store").empty());
}

TEST(CreateTest, PlacementRequestsAreNotAFilesPolicy) {
  // auto and replicate are for choose_placement to decide; a file gets local, bind or interleave.
  test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  for (const auto& asked : {placement::automatic(), placement::replicate_on({0})}) {
    const auto msg = error_of<usage_error>([&] { (void)s.create("p", layout::bytes(4096), {.where = asked}); });
    EXPECT_NE(msg.find("choose_placement"), std::string::npos) << msg;
  }
  EXPECT_TRUE(files_in(dir.path() / "store").empty());
}

TEST(ResourceTest, FullTmpfsIsANamedErrorBeforeAnyPage) {
  test::scoped_mount small("tmpfs", "size=16m,mode=0755");
  if (!small.ok()) GTEST_SKIP() << small.why();
  store s = store::at(small.path() / "store");
  const auto msg = error_of<no_space_error>([&] { (void)s.create("big", layout::bytes(32 * MiB)); });
  EXPECT_NE(msg.find("no space"), std::string::npos) << msg;
  EXPECT_NE(msg.find(small.path().string()), std::string::npos) << msg;
  EXPECT_TRUE(files_in(small.path() / "store").empty());
}

TEST(ResourceTest, TmpfsFillingUpDuringPopulateIsNoSpaceNotSigbus) {
  test::scoped_mount small("tmpfs", "size=16m,mode=0755");
  if (!small.ok()) GTEST_SKIP() << small.why();
  const auto dir = small.path() / "store";
  // Creator A checks free space, then stops before its first page; B then takes most of it.
  test::child a = test::spawn({ENGINE_HELPER, "create", "a", std::to_string(12 * MiB), "1"},
                              {{"ONECOPY_DIR", dir.string()}, {"ONECOPY_TEST_PAUSE_AT", "before_populate"}},
                              {.capture_stdout = true, .capture_stderr = true});
  ASSERT_TRUE(test::wait_stopped(a.pid));
  store s = store::at(dir);
  segment b = std::move(s.create("b", layout::bytes(12 * MiB))).publish();
  ::kill(a.pid, SIGCONT);
  const std::string err = test::read_all(a.stderr_fd);
  EXPECT_EQ(test::exit_code(test::wait_for(a.pid)), 1) << err;
  EXPECT_NE(err.find("no space left in " + dir.string()), std::string::npos) << err;
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"b"});
  ::close(a.stdout_fd);
  ::close(a.stderr_fd);
}

// A tmpfs draft is filled through its file and allocated at publish, not populated at create:
// a tmpfs that fills up in between is still a named no_space_error (from the write, or from
// publish's fallocate), never SIGBUS, and leaves nothing behind.
TEST(ResourceTest, TmpfsFillingUpBeforeAFileFillOrPublishIsNoSpaceNotSigbus) {
  test::scoped_mount small("tmpfs", "size=16m,mode=0755");
  if (!small.ok()) GTEST_SKIP() << small.why();
  const auto dir = small.path() / "store";
  test::temp_dir files;
  const auto source = files.path() / "source.bin";
  std::ofstream(source, std::ios::binary) << std::string(12 * MiB, 'x');
  store s = store::at(dir);
  {
    draft from_file = s.create("from-file", layout::bytes(12 * MiB));
    draft zeros = s.create("zeros", layout::bytes(12 * MiB));
    segment taken = std::move(s.create("taken", layout::bytes(12 * MiB))).publish();
    const auto msg = error_of<no_space_error>([&] { from_file.read_from_file(source, 0, 0, 12 * MiB); });
    EXPECT_NE(msg.find("no space left in " + dir.string()), std::string::npos) << msg;
    const auto at_publish = error_of<no_space_error>([&] { (void)std::move(zeros).publish(); });
    EXPECT_NE(at_publish.find("no space left in " + dir.string()), std::string::npos) << at_publish;
  }
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"taken"});
}

TEST(ResourceTest, ExhaustedHugePagePoolIsNamedOrAReasonedFallback) {
  test::scoped_hugepages pool(2 * MiB, 4);
  test::scoped_mount huge("hugetlbfs", "pagesize=2M,mode=0755");
  if (!huge.ok()) GTEST_SKIP() << huge.why();
  if (pool.added() < 4) GTEST_SKIP() << "could not reserve 4 huge pages";
  const auto need = layout::bytes(64 * MiB);  // 33 pages with the header, more than are free
  if (const auto free = test::free_hugepages(2 * MiB); free >= 33)
    GTEST_SKIP() << "the host's 2 MiB pool has " << free << " free pages besides the test's own (someone else's)";

  store only_huge = store::at(huge.path() / "store");
  auto msg = error_of<hugepage_pool_error>([&] { (void)only_huge.create("t", need); });
  EXPECT_NE(msg.find("free pages, need 33"), std::string::npos) << msg;
  msg = error_of<fallback_error>([&] { (void)only_huge.create("t", need, {.pages = page_size::huge_2m, .strict = true}); });
  EXPECT_NE(msg.find("strict"), std::string::npos) << msg;
  msg = error_of<hugepage_pool_error>([&] { (void)only_huge.create("t", need, {.where = placement::bind_to({0})}); });
  EXPECT_NE(msg.find("node 0 has"), std::string::npos) << msg;
  EXPECT_TRUE(files_in(huge.path() / "store").empty());

  // With /dev/shm behind it, the same request falls back and says why.
  test::temp_dir shm;
  store both = store::from_config({.roots = {huge.path(), shm.path()}, .lock_root = shm.path()});
  ASSERT_EQ(both.backings().front().kind, backing_kind::hugetlbfs);
  draft d = both.create("t", need, {.pages = page_size::huge_2m});
  ASSERT_FALSE(d.report().fallbacks.empty());
  EXPECT_NE(d.report().fallbacks.front().find("2 MiB hugetlbfs"), std::string::npos) << d.report().fallbacks.front();
  EXPECT_EQ(d.report().backing, backing_kind::shm);
  segment seg = std::move(d).publish();
  EXPECT_EQ(seg.info().page_size, 4 * KiB);
  EXPECT_EQ(seg.path().parent_path().parent_path(), shm.path());
}

TEST(ResourceTest, RunningOutOfFileDescriptorsIsNamed) {
  test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  (void)std::move(s.create("fd", layout::bytes(4096))).publish();
  EXPECT_EXIT(attach_with_no_fds_left(s, "fd"),
      ::testing::ExitedWithCode(3), "");
}

TEST(ResourceTest, RunningOutOfAddressSpaceIsNamed) {
  test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  (void)std::move(s.create("wide", layout::bytes(256 * MiB))).publish();
  EXPECT_EXIT(attach_with_no_address_space_left(s, "wide"),
      ::testing::ExitedWithCode(3), "");
}

TEST(PermissionTest, StoreDirectoryMustBePrivateAndOurs) {
  test::temp_dir dir;
  const auto open_dir = dir.path() / "open";
  ::mkdir(open_dir.c_str(), 0755);
  ::chmod(open_dir.c_str(), 0755);
  store s = store::at(open_dir);
  auto msg = error_of<permission_error>([&] { (void)s.create("x", layout::bytes(4096)); });
  EXPECT_NE(msg.find("has mode 0755"), std::string::npos) << msg;
  EXPECT_THROW((void)s.attach("x"), permission_error);

  if (!test::is_root()) GTEST_SKIP() << "chown to another user needs root";
  const auto theirs = dir.path() / "theirs";
  ::mkdir(theirs.c_str(), 0700);
  ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
  msg = error_of<permission_error>([&] { (void)store::at(theirs).create("x", layout::bytes(4096)); });
  EXPECT_NE(msg.find("owned by uid 65534"), std::string::npos) << msg;
}

TEST(PermissionTest, AnotherUserCannotReadASegment) {
  if (!test::is_root()) GTEST_SKIP() << "switching to another user needs root";
  if (!std::filesystem::exists("/usr/bin/setpriv")) GTEST_SKIP() << "setpriv (util-linux) is not installed";
  test::temp_dir dir;
  store s = store::at(dir.path() / "store");
  segment seg = std::move(s.create("secret", layout::bytes(4096))).publish();
  // The temp dir itself is 0700 root: open it up so only the store's own protection is tested.
  ::chmod(dir.path().c_str(), 0755);
  const std::vector<std::string> as_nobody = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                              "--clear-groups"};
  auto cat = as_nobody;
  cat.insert(cat.end(), {"/bin/cat", seg.path().string()});
  const auto r = test::run(cat);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  auto ls = as_nobody;
  ls.insert(ls.end(), {"/bin/ls", (dir.path() / "store").string()});
  EXPECT_NE(test::run(ls).code, 0);
}

}  // namespace
}  // namespace onecopy
