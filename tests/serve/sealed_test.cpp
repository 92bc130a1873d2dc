// SPDX-License-Identifier: Apache-2.0
// Sealed hand-out (`onecopy serve --seal`, client::seal): readers of the server's sealed memfd
// copy keep reading the published bytes whatever happens to the store's file, where readers of
// the file itself die of SIGBUS; the seals hold against anyone, and the store file can go so
// that the sealed copy is the one copy. Real server process, real reader processes.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <nlohmann/json.hpp>

#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/serve/client.hpp"
#include "onecopy/units.hpp"
#include "serve_fixture.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

using namespace serve_test;

class SealedServeTest : public ServeTest {
 protected:
  // A reader process that attached "weights" through the server; "attached <checksum>" read.
  test::child start_reader() {
    test::child r = test::spawn({test::built("tests/serve/serve_helper").string(), "hold", socket_.string(), "weights"},
                                {}, {.capture_stdout = true, .stdin_pipe = true});
    attached_ = test::read_line(r.stdout_fd);
    EXPECT_TRUE(attached_.starts_with("attached ")) << attached_;
    return r;
  }
  // Asks the reader to read every byte again; its answer ("" when it died).
  static std::string recheck(const test::child& r) {
    if (::write(r.stdin_fd, "check\n", 6) != 6) return "";
    return test::read_line(r.stdout_fd);
  }
  static int finish(test::child& r) {
    ::close(r.stdin_fd);
    const int code = test::exit_code(test::wait_for(r.pid));
    ::close(r.stdout_fd);
    return code;
  }
  // What an owner (or root) can do to a published file: make it writable and cut it.
  void truncate_store_file() const {
    const auto file = dir_->path() / "weights";
    ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
    ASSERT_EQ(::truncate(file.c_str(), 0), 0);
  }
  std::string attached_;
};

TEST_F(SealedServeTest, ASealedReaderKeepsReadingTheBytesAfterTheStoreFileIsTruncatedAndReplaced) {
  auto c = serve::client::connect(socket_);
  const json sealed = c.seal("weights", {.keep_store_file = true});
  EXPECT_EQ(sealed["store_file_removed"], false);
  EXPECT_EQ(sealed["checksum"], checksum_);
  test::child reader = start_reader();
  const std::string ok = "ok " + attached_.substr(9);

  truncate_store_file();
  EXPECT_EQ(recheck(reader), ok) << "the sealed reader lost its bytes when the store file was truncated";
  // Replaced: the name now names other bytes; the server keeps serving its sealed copy.
  store s = store::at(dir_->path());
  s.remove("weights");
  draft d = s.create("weights", layout::array(dtype::u8, {4096}));
  std::fill(d.bytes().begin(), d.bytes().end(), std::byte{1});
  const std::uint64_t other = std::move(d).publish().info().checksum;
  ASSERT_NE(other, checksum_);
  EXPECT_EQ(recheck(reader), ok);
  const segment again = c.attach("weights");
  EXPECT_EQ(again.info().checksum, checksum_);
  EXPECT_TRUE(again.verify());
  EXPECT_EQ(finish(reader), 0);
}

TEST_F(SealedServeTest, TheSealsHoldAgainstAWritableOpenOfTheHandedOutFile) {
  auto c = serve::client::connect(socket_);
  (void)c.seal("weights");
  const segment s = c.attach("weights");
  EXPECT_EQ(::fcntl(s.fd(), F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  EXPECT_EQ(::fcntl(s.fd(), F_GETFL) & O_ACCMODE, O_RDONLY);
  // Whoever opens the memfd for writing (its owner, root) can change nothing.
  const int rw = ::open(s.path().c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(rw, 0) << s.path() << ": " << std::strerror(errno);
  EXPECT_EQ(::ftruncate(rw, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::ftruncate(rw, static_cast<off_t>(s.info().file_size) * 2), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::pwrite(rw, "x", 1, static_cast<off_t>(s.info().data_offset)), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0), MAP_FAILED);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::fcntl(rw, F_ADD_SEALS, 0), -1) << "F_SEAL_SEAL: no seal can be added or removed";
  EXPECT_EQ(errno, EPERM);
  ::close(rw);
  EXPECT_TRUE(s.verify());
}

TEST_F(SealedServeTest, AnUnsealedReaderDiesOfSigbusWhenTheStoreFileIsTruncated) {
  // Why sealing matters: the file the server hands out unsealed is the store's own inode.
  test::child reader = start_reader();
  truncate_store_file();
  EXPECT_EQ(recheck(reader), "");
  ::close(reader.stdin_fd);
  EXPECT_EQ(test::exit_code(test::wait_for(reader.pid)), -SIGBUS);
  ::close(reader.stdout_fd);
}

TEST_F(SealedServeTest, WithoutKeepStoreFileTheSealedCopyIsTheOneCopy) {
  auto c = serve::client::connect(socket_);
  const json sealed = c.seal("weights");
  EXPECT_EQ(sealed["store_file_removed"], true);
  EXPECT_EQ(sealed["seals"], json({"shrink", "grow", "write", "seal"}));
  store s = store::at(dir_->path());
  EXPECT_FALSE(s.exists("weights")) << "the store file stays: two copies";
  const segment held = c.attach("weights");
  EXPECT_TRUE(held.verify());
  EXPECT_EQ(held.info().checksum, checksum_);
  EXPECT_EQ(c.seal("weights")["generation"], sealed["generation"]) << "sealing again changes nothing";
  const json st = c.status();
  ASSERT_EQ(st["segments"].size(), 1u) << st.dump(2);
  EXPECT_EQ(st["segments"][0]["sealed"], true);
  EXPECT_EQ(st["segments"][0]["path"], "memfd:onecopy:weights");
  const auto text = test::run({test::built("onecopy").string(), "serve", "--status"}, env());
  EXPECT_NE(text.out.find("segment 'weights' generation 1 (sealed memfd): 1 lease"), std::string::npos) << text.out;
  // Dropped: new attaches find nothing (the store file is gone); the reader's mapping stays.
  (void)c.unseal("weights");
  EXPECT_THROW((void)c.attach("weights"), os_error);
  EXPECT_TRUE(held.verify());
  EXPECT_THROW((void)c.unseal("weights"), os_error);
  EXPECT_THROW((void)c.seal("missing"), os_error);
  // A malformed seal request is refused and hurts nothing.
  raw_client raw(socket_);
  EXPECT_EQ(error_code(raw.request({{"v", 1}, {"op", "seal"}, {"segment", "weights"}, {"keep_store_file", "yes"}})),
            "bad_request");
}

TEST_F(SealedServeTest, TheCliSealsAndSaysWhatItCosts) {
  const auto r = test::run({test::built("onecopy").string(), "serve", "--seal", "weights", "--keep-store-file"}, env());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("'weights' generation 1: sealed copy of"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("store file kept: two copies in memory"), std::string::npos) << r.out;
  const auto j = test::run({test::built("onecopy").string(), "serve", "--seal", "weights", "--json"}, env());
  ASSERT_EQ(j.code, 0) << j.err;
  EXPECT_EQ(json::parse(j.out)["store_file_removed"], true);
}

TEST(SealedServeNoServerTest, SealingWithoutARunningServerSaysSo) {
  test::temp_dir dir;
  const auto r = test::run({test::built("onecopy").string(), "serve", "--seal", "weights"},
                           {{"ONECOPY_DIR", dir.path().string()}});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is 'onecopy serve' running?"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find((dir.path() / ".locks" / "serve.sock").string()), std::string::npos) << r.err;
}

TEST(SealedServeHugetlbTest, ACopyOfAHugetlbfsSegmentIsOnHugePagesAndSealed) {
  if (!test::is_root()) GTEST_SKIP() << "needs root to mount hugetlbfs and grow the 2 MiB pool";
  test::scoped_hugepages pool(2 * MiB, 8);
  if (pool.added() < 4) GTEST_SKIP() << "could not add 4 free 2 MiB pages to the pool";
  test::scoped_mount mnt("hugetlbfs", "pagesize=2M");
  if (!mnt.ok()) GTEST_SKIP() << "cannot mount hugetlbfs: " << mnt.why();
  ASSERT_EQ(::chmod(mnt.path().c_str(), 0700), 0);  // a store directory is private
  store s = store::at(mnt.path());
  draft d = s.create("weights", layout::array(dtype::u8, {3 * MiB}));
  std::fill(d.bytes().begin(), d.bytes().end(), std::byte{7});
  const segment source = std::move(d).publish();
  ASSERT_EQ(source.info().backing, backing_kind::hugetlbfs);
  auto server = test::spawn({test::built("onecopy").string(), "serve"}, {{"ONECOPY_DIR", mnt.path().string()}},
                            {.capture_stdout = true});
  ASSERT_TRUE(test::read_line(server.stdout_fd).starts_with("onecopy serve: listening on "));
  {
    auto c = serve::client::connect(s.runtime_dir() / "serve.sock");
    (void)c.seal("weights");
    const segment sealed = c.attach("weights");
    struct statfs fs {};
    ASSERT_EQ(::fstatfs(sealed.fd(), &fs), 0);
    EXPECT_EQ(fs.f_type, HUGETLBFS_MAGIC) << "the sealed copy of a hugetlbfs segment is not on huge pages";
    EXPECT_EQ(::fcntl(sealed.fd(), F_GET_SEALS), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    EXPECT_TRUE(sealed.verify());
  }
  ::kill(server.pid, SIGTERM);
  EXPECT_EQ(test::exit_code(test::wait_for(server.pid)), 0);
  ::close(server.stdout_fd);
}

}  // namespace
}  // namespace onecopy
