// SPDX-License-Identifier: Apache-2.0
// Test support: private store directories, root-only mounts and huge-page reservations that
// undo themselves, and child processes spawned with fork+exec and judged by exit status.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace onecopy::test {

/// A fresh directory (mkdtemp under base) removed recursively on destruction.
class temp_dir {
 public:
  explicit temp_dir(const std::filesystem::path& base = "/dev/shm", const std::string& prefix = "onecopy-test");
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir();
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

/// Sets an environment variable for the object's lifetime, restoring the old value.
class scoped_env {
 public:
  scoped_env(std::string name, const std::string& value);
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;
  ~scoped_env();

 private:
  std::string name_;
  std::optional<std::string> old_;
};

[[nodiscard]] bool is_root();

/// Built with AddressSanitizer (make test): its allocator needs new mappings of its own, so a
/// process driven to vm.max_map_count dies in ASan before onecopy can name the limit.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool under_asan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool under_asan = true;
#else
inline constexpr bool under_asan = false;
#endif
#else
inline constexpr bool under_asan = false;
#endif

/// A filesystem mounted on a fresh directory; unmounted (and the directory removed) on
/// destruction. Check ok() (false when mounting failed, with why()).
class scoped_mount {
 public:
  /// e.g. ("tmpfs", "huge=within_size,size=256m") or ("hugetlbfs", "pagesize=2M")
  scoped_mount(const std::string& type, const std::string& options);
  scoped_mount(const scoped_mount&) = delete;
  scoped_mount& operator=(const scoped_mount&) = delete;
  ~scoped_mount();
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] const std::string& why() const noexcept { return why_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
  bool ok_ = false;
  std::string why_;
};

/// Adds pages to the host's huge-page pool of one size (by increment: other processes may use
/// the pool too) and takes exactly that many away again on destruction.
class scoped_hugepages {
 public:
  scoped_hugepages(std::uint64_t page_size, std::uint64_t pages);
  scoped_hugepages(const scoped_hugepages&) = delete;
  scoped_hugepages& operator=(const scoped_hugepages&) = delete;
  ~scoped_hugepages();
  /// Pages actually added (the kernel may find fewer free).
  [[nodiscard]] std::uint64_t added() const noexcept { return added_; }

 private:
  std::filesystem::path knob_;
  std::uint64_t added_ = 0;
};

/// Free pages of that size host-wide.
[[nodiscard]] std::uint64_t free_hugepages(std::uint64_t page_size);

/// A child process started with fork+exec.
struct child {
  pid_t pid = -1;
  int stdout_fd = -1;  ///< read end of the child's stdout (when captured)
  int stdin_fd = -1;   ///< write end of the child's stdin (when given)
  int stderr_fd = -1;  ///< read end of the child's stderr (when captured)
};

/// How to wire a child's standard streams.
struct spawn_options {
  bool capture_stdout = true;
  bool capture_stderr = false;
  bool stdin_pipe = false;
  /// When >= 0 (and !capture_stderr): the child's stderr is this descriptor (e.g. a terminal).
  int stderr_to = -1;
};

/// Spawns argv (argv[0] is a path) with env additions (a value of "" unsets nothing; use it as
/// given).
[[nodiscard]] child spawn(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env = {},
                          spawn_options io = {});
/// Reads the child's stdout until EOF.
[[nodiscard]] std::string read_all(int fd);
/// Reads one line (without the newline) from fd; "" at EOF.
[[nodiscard]] std::string read_line(int fd);
/// waitpid with a timeout (then SIGKILL); returns the raw status.
int wait_for(pid_t pid, std::chrono::seconds timeout = std::chrono::seconds(120));
/// Waits until the child stops (SIGSTOP) or exits; true when it stopped.
bool wait_stopped(pid_t pid, std::chrono::seconds timeout = std::chrono::seconds(60));
/// Exit code of a finished child, or -signal when it died of a signal.
[[nodiscard]] int exit_code(int status);

/// Result of running a command to completion.
struct run_result {
  int code = 0;  ///< exit code, or -signal
  std::string out;
  std::string err;
};
/// Runs argv to completion capturing stdout and stderr.
[[nodiscard]] run_result run(const std::vector<std::string>& argv,
                             const std::map<std::string, std::string>& env = {});

/// Path of an executable built next to the tests (ONECOPY_BINARY_DIR/…).
[[nodiscard]] std::filesystem::path built(const std::string& relative);

}  // namespace onecopy::test
