// SPDX-License-Identifier: Apache-2.0
// put's progress line: drawn on a terminal (a real pseudo-terminal as stderr) for a long fill,
// never on a pipe, with -q, or for a small put.
#include <fcntl.h>
#include <unistd.h>

#include "golden.hpp"

namespace onecopy {
namespace {

struct terminal_run {
  int code = -1;
  std::string out;       // stdout (a pipe)
  std::string terminal;  // what the pseudo-terminal on stderr received
};

// Runs `onecopy args…` with env added, stderr on a new pseudo-terminal and stdout on a pipe.
terminal_run run_on_terminal(std::vector<std::string> args, const std::map<std::string, std::string>& env) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) throw std::runtime_error("posix_openpt");
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) throw std::runtime_error("open the pseudo-terminal's slave");
  args.insert(args.begin(), test::built("onecopy").string());
  const test::child c = test::spawn(args, env, {.stderr_to = slave});
  ::close(slave);  // the child holds the only other end: EIO on the master once it is gone
  terminal_run r;
  r.terminal = test::read_all(master);  // until EIO: the child has exited
  r.out = test::read_all(c.stdout_fd);
  r.code = test::exit_code(test::wait_for(c.pid));
  ::close(c.stdout_fd);
  ::close(master);
  return r;
}

class CliProgressTest : public ::testing::Test {
 protected:
  // A sparse file: its holes read as zeros, and it takes no memory of its own.
  std::string input(std::uint64_t bytes) {
    const auto path = dir_.path() / ("input-" + std::to_string(bytes));
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(bytes)), 0);
    ::close(fd);
    return path.string();
  }

  test::temp_dir dir_;
  std::map<std::string, std::string> env_{{"ONECOPY_DIR", (dir_.path() / "store").string()}};
};

constexpr std::uint64_t large = std::uint64_t{160} << 20;  // above the 128 MiB threshold

TEST_F(CliProgressTest, LongPutShowsProgressOnATerminal) {
  const auto r = run_on_terminal({"put", "big", input(large)}, env_);
  ASSERT_EQ(r.code, 0) << r.terminal;
  EXPECT_NE(r.terminal.find("\rput big: "), std::string::npos) << r.terminal;
  EXPECT_NE(r.terminal.find(" of 160 MiB ("), std::string::npos) << r.terminal;
  // Erased at the end: the terminal's last line is not a progress line.
  EXPECT_NE(r.terminal.rfind("\r\033[K"), std::string::npos) << r.terminal;
  EXPECT_NE(r.out.find("put big: 160 MiB"), std::string::npos) << r.out;
}

TEST_F(CliProgressTest, NoProgressOnAPipe) {
  const auto r = test::run({test::built("onecopy").string(), "put", "big", input(large)}, env_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find(" of 160 MiB"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
}

TEST_F(CliProgressTest, NoProgressWithQuiet) {
  const auto r = run_on_terminal({"put", "big", input(large), "-q"}, env_);
  ASSERT_EQ(r.code, 0) << r.terminal;
  EXPECT_EQ(r.terminal, "");
}

TEST_F(CliProgressTest, NoProgressForASmallPut) {
  const auto r = run_on_terminal({"put", "small", input(std::uint64_t{4} << 20)}, env_);
  ASSERT_EQ(r.code, 0) << r.terminal;
  EXPECT_EQ(r.terminal.find("put small: "), std::string::npos) << r.terminal;
  EXPECT_NE(r.terminal.find("fallback"), std::string::npos) << "stderr is the terminal: " << r.terminal;
}

}  // namespace
}  // namespace onecopy
