// SPDX-License-Identifier: Apache-2.0
// Files planted in the store (a FIFO, socket, symlink or directory where a segment or lock file
// belongs): every store operation refuses them with an error naming the path and what is there,
// never hangs on them, never follows them out of the store; list and gc skip and report them.
// Each case runs in a forked child under alarm(): a regression that blocks fails, not hangs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "support/test_support.hpp"

namespace onecopy {
namespace {

constexpr unsigned guard_seconds = 20;

// Runs f in a child killed by SIGALRM after guard_seconds; returns f's exit code. A child that
// hung reports as -SIGALRM.
int in_child(const std::function<int()>& f) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(guard_seconds);
    int code = 99;
    try {
      code = f();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "unexpected: %s\n", e.what());
    }
    std::_Exit(code);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return WEXITSTATUS(status);
}

// 0 when f throws an os_error whose message names path and says what; else prints why.
int refused(const std::function<void()>& f, const std::filesystem::path& path, std::string_view what) {
  try {
    f();
  } catch (const os_error& e) {
    const std::string m = e.what();
    if (m.find(path.string()) != std::string::npos && m.find(what) != std::string::npos) return 0;
    std::fprintf(stderr, "message lacks '%s' or '%s': %s\n", path.c_str(), std::string(what).c_str(), m.c_str());
    return 2;
  }
  std::fprintf(stderr, "no error for %s\n", path.c_str());
  return 1;
}

void make_socket(const std::filesystem::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  ::close(fd);  // the socket file stays
}

void publish(store& s, const std::string& name) { (void)std::move(s.create(name, layout::bytes(4096))).publish(); }

class PlantedFileTest : public ::testing::Test {
 protected:
  test::temp_dir dir_;
  std::filesystem::path root_ = dir_.path() / "store";
  std::filesystem::path outside_ = dir_.path() / "outside";
  store s_ = store::at(root_);
  void SetUp() override {
    std::filesystem::create_directory(outside_);
    publish(s_, "good");  // makes the store and its lock directory
  }
  // The checks every planted segment-name case shares: attach refuses, list and gc carry on.
  void expect_segment_refused(const std::string& name, std::string_view kind) {
    const auto path = root_ / name;
    EXPECT_EQ(in_child([&] { return refused([&] { (void)s_.attach(name); }, path, kind); }), 0) << kind;
    EXPECT_EQ(in_child([&] {
                const auto l = s_.list();
                return l.size() == 1 && l.front().name == "good" ? 0 : 1;
              }), 0) << "list did not skip " << kind;
    EXPECT_EQ(in_child([&] {
                for (const auto& p : s_.problems())
                  if (p.path == path && p.foreign && p.what.find(kind) != std::string::npos) return 0;
                return 1;
              }), 0) << "problems() does not report " << kind;
    EXPECT_EQ(in_child([&] {
                const auto r = s_.gc();
                for (const auto& p : r.skipped)
                  if (p.path == path) return 0;
                return 1;
              }), 0) << "gc did not report " << kind;
    EXPECT_EQ(in_child([&] { return refused([&] { (void)s_.create(name, layout::bytes(4096)); }, path, "exists"); }), 0);
    EXPECT_TRUE(s_.attach("good").verify());
  }
};

TEST_F(PlantedFileTest, FifoAtASegmentNameIsRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((root_ / "w").c_str(), 0600), 0);
  expect_segment_refused("w", "a FIFO");
}

TEST_F(PlantedFileTest, SocketAtASegmentNameIsRefused) {
  make_socket(root_ / "w");
  expect_segment_refused("w", "a socket");
}

TEST_F(PlantedFileTest, DirectoryAtASegmentNameIsRefused) {
  std::filesystem::create_directory(root_ / "w");
  expect_segment_refused("w", "a directory");
}

TEST_F(PlantedFileTest, SymlinkAtASegmentNameIsNeverFollowed) {
  // A valid segment outside the store: following the link would attach it.
  std::filesystem::copy_file(root_ / "good", outside_ / "real");
  std::filesystem::create_symlink(outside_ / "real", root_ / "w");
  expect_segment_refused("w", "a symbolic link");
}

TEST_F(PlantedFileTest, FifoBehindASymlinkAtASegmentNameDoesNotHang) {
  ASSERT_EQ(::mkfifo((outside_ / "fifo").c_str(), 0600), 0);
  std::filesystem::create_symlink(outside_ / "fifo", root_ / "w");
  expect_segment_refused("w", "a symbolic link");
}

TEST_F(PlantedFileTest, DanglingSymlinkAtALockFileCreatesNothingOutside) {
  const auto lock = root_ / ".locks" / "w.lock";
  std::filesystem::create_symlink(outside_ / "made-through-the-link", lock);
  EXPECT_EQ(in_child([&] { return refused([&] { (void)s_.create("w", layout::bytes(4096)); }, lock, "a symbolic link"); }), 0);
  EXPECT_EQ(in_child([&] {
              return refused([&] {
                (void)s_.open_or_create("w", layout::bytes(4096), {}, [](draft&) {});
              }, lock, "a symbolic link");
            }), 0);
  EXPECT_FALSE(std::filesystem::exists(outside_ / "made-through-the-link")) << "a file was created outside the store";
  EXPECT_EQ(in_child([&] {
              for (const auto& p : s_.gc().skipped)
                if (p.path == lock) return 0;
              return 1;
            }), 0);
  EXPECT_TRUE(std::filesystem::is_symlink(lock)) << "gc touched the planted link";
}

TEST_F(PlantedFileTest, FifoAtALockFileIsRefusedWithoutBlocking) {
  const auto lock = root_ / ".locks" / "w.lock";
  ASSERT_EQ(::mkfifo(lock.c_str(), 0600), 0);
  EXPECT_EQ(in_child([&] { return refused([&] { (void)s_.create("w", layout::bytes(4096)); }, lock, "a FIFO"); }), 0);
  EXPECT_EQ(in_child([&] {
              for (const auto& p : s_.problems())
                if (p.path == lock && p.foreign) return 0;
              return 1;
            }), 0);
}

TEST_F(PlantedFileTest, OtherToolsFilesInTheRuntimeDirectoryAreNotProblems) {
  // The lock directory is store::runtime_dir(): `onecopy serve` keeps its socket and pid file
  // there. Only the store's own kinds of file are judged; a FIFO at a lock file still is.
  const auto runtime = s_.runtime_dir();
  ASSERT_EQ(::mkfifo((runtime / "serve.sock").c_str(), 0600), 0);  // non-regular, like a socket
  std::filesystem::create_directory(runtime / "some-tool");
  ASSERT_EQ(::mkfifo((runtime / "x.lock").c_str(), 0600), 0);
  std::vector<std::filesystem::path> reported;
  for (const auto& p : s_.problems()) reported.push_back(p.path);
  EXPECT_EQ(reported, std::vector<std::filesystem::path>{runtime / "x.lock"});
}

TEST_F(PlantedFileTest, SymlinkToAFifoAtALockFileDoesNotHang) {
  const auto lock = root_ / ".locks" / "w.lock";
  ASSERT_EQ(::mkfifo((outside_ / "fifo").c_str(), 0600), 0);
  std::filesystem::create_symlink(outside_ / "fifo", lock);
  EXPECT_EQ(in_child([&] { return refused([&] { (void)s_.create("w", layout::bytes(4096)); }, lock, "a symbolic link"); }), 0);
}

TEST_F(PlantedFileTest, DirectoryAtALockFileIsRefused) {
  const auto lock = root_ / ".locks" / "w.lock";
  std::filesystem::create_directory(lock);
  EXPECT_EQ(in_child([&] { return refused([&] { (void)s_.create("w", layout::bytes(4096)); }, lock, "a directory"); }), 0);
}

TEST_F(PlantedFileTest, SymlinkedStoreDirectoryIsRefused) {
  const auto other = dir_.path() / "other";
  std::filesystem::create_directory(other);
  ::chmod(other.c_str(), 0700);
  std::filesystem::create_symlink(other, dir_.path() / "linked");
  store s = store::at(dir_.path() / "linked");
  EXPECT_EQ(in_child([&] { return refused([&] { (void)s.attach("x"); }, dir_.path() / "linked", "not a directory"); }), 0);
  EXPECT_EQ(in_child([&] { return refused([&] { publish(s, "x"); }, dir_.path() / "linked", "not a directory"); }), 0);
  EXPECT_TRUE(std::filesystem::is_empty(other)) << "something was created through the symlinked store";
}

TEST_F(PlantedFileTest, SegmentOfAnotherModeIsRefused) {
  // A regular file others may write is not one onecopy made: refused before a byte is read.
  std::filesystem::copy_file(root_ / "good", root_ / "w");
  ASSERT_EQ(::chmod((root_ / "w").c_str(), 0666), 0);
  EXPECT_EQ(in_child([&] { return refused([&] { (void)s_.attach("w"); }, root_ / "w", "lets others write it"); }), 0);
}

TEST_F(PlantedFileTest, ResizedSegmentIsNamedAsSuchByAttachStatAndVerify) {
  // The owner can still resize a published file (chmod u+w first); what stat and verify
  // (both attach first) then say: no header where it belongs, maybe truncated.
  const auto path = root_ / "good";
  const auto size = std::filesystem::file_size(path);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  for (const auto new_size : {size - 4096, size + 4096, std::uintmax_t{100}}) {
    std::filesystem::resize_file(path, new_size);
    try {
      (void)s_.attach("good");
      ADD_FAILURE() << "attached a segment resized to " << new_size;
    } catch (const format_error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(path.string()), std::string::npos) << m;
      // v2 keeps its header at the file's end: a resized file has none where readers look.
      EXPECT_NE(m.find("truncated"), std::string::npos) << m;
    }
  }
}

}  // namespace
}  // namespace onecopy
