// SPDX-License-Identifier: Apache-2.0
// put's progress line: drawn on a terminal (a real pseudo-terminal as stderr) for a long fill,
// never on a pipe, with -q, or for a small put.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "golden.hpp"

namespace onecopy {
namespace {

struct terminal_run {
  int code = -1;
  std::string out;       // stdout (a pipe)
  std::string terminal;  // what the pseudo-terminal on stderr received
};

// Runs `onecopy args…` with env added, stderr on a new pseudo-terminal and stdout on a pipe.
terminal_run run_on_terminal(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) throw std::runtime_error("posix_openpt");
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  int out[2];
  if (slave < 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("open pty slave / pipe2");
  std::vector<std::string> argv_text{test::built("onecopy").string()};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text;
  for (char** e = environ; *e != nullptr; ++e) env_text.emplace_back(*e);
  for (const auto& [k, v] : env) env_text.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(slave, STDERR_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(slave);  // the child holds the only other end: EIO on the master once it is gone
  ::close(out[1]);
  terminal_run r;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(master, buffer, sizeof buffer);
    if (n > 0) r.terminal.append(buffer, static_cast<std::size_t>(n));
    else if (n < 0 && errno == EINTR) continue;
    else break;  // EIO: the child has exited
  }
  r.out = test::read_all(out[0]);
  r.code = test::exit_code(test::wait_for(pid));
  ::close(out[0]);
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
