// SPDX-License-Identifier: Apache-2.0
// Runs the built `onecopy` binary as a child process (posix_spawn, in a chosen directory, with
// extra environment) and captures its stdout, stderr and exit code.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace onecopy::test {

struct run_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string read_all(int fd) {
  std::string s;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    s.append(buf, static_cast<std::size_t>(n));
  }
  return s;
}

/// Runs ONECOPY_BINARY_DIR/onecopy args… in dir with env entries ("K=V") added.
inline run_result run_onecopy(const std::vector<std::string>& args, const std::filesystem::path& dir,
                              const std::vector<std::string>& env = {}) {
  const std::string exe = std::string(ONECOPY_BINARY_DIR) + "/onecopy";
  char out_tmpl[] = "/tmp/onecopy-out.XXXXXX";
  char err_tmpl[] = "/tmp/onecopy-err.XXXXXX";
  const int out_fd = ::mkstemp(out_tmpl);
  const int err_fd = ::mkstemp(err_tmpl);
  if (out_fd < 0 || err_fd < 0) throw std::runtime_error("mkstemp failed");
  ::unlink(out_tmpl);
  ::unlink(err_tmpl);
  std::vector<std::string> argv_s = {exe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) env_s.emplace_back(*e);
  env_s.insert(env_s.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("posix_spawn " + exe + " failed");
  int status = 0;
  ::waitpid(pid, &status, 0);
  run_result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  ::lseek(out_fd, 0, SEEK_SET);
  ::lseek(err_fd, 0, SEEK_SET);
  r.out = read_all(out_fd);
  r.err = read_all(err_fd);
  ::close(out_fd);
  ::close(err_fd);
  return r;
}

}  // namespace onecopy::test
