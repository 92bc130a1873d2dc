// SPDX-License-Identifier: Apache-2.0
#include "test_support.hpp"

#include "onecopy/sys/calls.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace onecopy::test {
namespace {

std::uint64_t read_u64(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::uint64_t v = 0;
  in >> v;
  return v;
}

void write_u64(const std::filesystem::path& p, std::uint64_t v) {
  std::ofstream out(p);
  out << v;
}

std::filesystem::path pool_dir(std::uint64_t page_size) {
  return "/sys/kernel/mm/hugepages/hugepages-" + std::to_string(page_size / 1024) + "kB";
}

void remove_tree(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::remove_all(p, ec);
}

}  // namespace

temp_dir::temp_dir(const std::filesystem::path& base, const std::string& prefix) {
  std::string templ = (base / (prefix + ".XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error("mkdtemp(" + templ + "): " + std::strerror(errno));
  path_ = templ;
}

temp_dir::~temp_dir() { remove_tree(path_); }

scoped_env::scoped_env(std::string name, const std::string& value) : name_(std::move(name)) {
  if (const char* old = std::getenv(name_.c_str())) old_ = old;
  ::setenv(name_.c_str(), value.c_str(), 1);
}

scoped_env::~scoped_env() {
  if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
  else ::unsetenv(name_.c_str());
}

bool is_root() { return ::geteuid() == 0; }

scoped_mount::scoped_mount(const std::string& type, const std::string& options) {
  if (!is_root()) {
    why_ = "mounting " + type + " needs root";
    return;
  }
  std::string templ = "/tmp/onecopy-mnt.XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    why_ = "mkdtemp: " + std::string(std::strerror(errno));
    return;
  }
  dir_ = templ;
  if (::mount(type.c_str(), dir_.c_str(), type.c_str(), 0, options.c_str()) != 0) {
    why_ = "mount -t " + type + " -o " + options + " " + dir_.string() + ": " + std::strerror(errno);
    ::rmdir(dir_.c_str());
    return;
  }
  ok_ = true;
}

scoped_mount::~scoped_mount() {
  if (!ok_) return;
  // Files first (a hugetlbfs file keeps its pages until unlinked), then the mount.
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) remove_tree(e.path());
  if (::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
  ::rmdir(dir_.c_str());
}

std::uint64_t free_hugepages(std::uint64_t page_size) {
  return read_u64(pool_dir(page_size) / "free_hugepages");
}

scoped_hugepages::scoped_hugepages(std::uint64_t page_size, std::uint64_t pages)
    : knob_(pool_dir(page_size) / "nr_hugepages") {
  if (!is_root() || !std::filesystem::exists(knob_)) return;
  const auto before = read_u64(knob_);
  write_u64(knob_, before + pages);
  const auto after = read_u64(knob_);
  added_ = after > before ? after - before : 0;
}

scoped_hugepages::~scoped_hugepages() {
  if (added_ == 0) return;
  const auto now = read_u64(knob_);
  write_u64(knob_, now > added_ ? now - added_ : 0);
}

child spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            spawn_options io) {
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  int in[2] = {-1, -1};
  if (io.capture_stdout && ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (io.capture_stderr && ::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (io.stdin_pipe && ::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (env.count(kv.substr(0, eq)) == 0) envs.push_back(kv);
  }
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (io.capture_stdout) ::dup2(out[1], STDOUT_FILENO);
    if (io.capture_stderr) ::dup2(err[1], STDERR_FILENO);
    else if (io.stderr_to >= 0) ::dup2(io.stderr_to, STDERR_FILENO);
    if (io.stdin_pipe) ::dup2(in[0], STDIN_FILENO);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  child c;
  c.pid = pid;
  if (io.capture_stdout) {
    ::close(out[1]);
    c.stdout_fd = out[0];
  }
  if (io.capture_stderr) {
    ::close(err[1]);
    c.stderr_fd = err[0];
  }
  if (io.stdin_pipe) {
    ::close(in[0]);
    c.stdin_fd = in[1];
  }
  return c;
}

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

std::string read_line(int fd) { return sys::read_line(fd); }

int wait_for(pid_t pid, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool wait_stopped(pid_t pid, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG | WUNTRACED);
    if (r == pid) return WIFSTOPPED(status);
    if (r < 0 || std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

run_result run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  child c = spawn(argv, env, {.capture_stdout = true, .capture_stderr = true});
  run_result r;
  // Drain both pipes without deadlock: poll until both reach EOF.
  pollfd fds[2] = {{c.stdout_fd, POLLIN, 0}, {c.stderr_fd, POLLIN, 0}};
  int open_fds = 2;
  char buffer[4096];
  while (open_fds > 0) {
    if (::poll(fds, 2, 120000) <= 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buffer, static_cast<std::size_t>(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  r.code = exit_code(wait_for(c.pid));
  return r;
}

std::filesystem::path built(const std::string& relative) {
  return std::filesystem::path(ONECOPY_BINARY_DIR) / relative;
}

}  // namespace onecopy::test
