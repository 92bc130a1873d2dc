// SPDX-License-Identifier: Apache-2.0
// The exceptions every onecopy module throws. Each names the thing and the cause.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace onecopy {

/// A failed system call: what() reads "call(object, args): strerror". code() keeps errno;
/// call() and path() keep the call and its object apart, for callers that report them as
/// fields (Python's OSError.filename).
class os_error : public std::system_error {
 public:
  /// @param err errno of the failed call (read it into a local before building strings)
  /// @param what the call and its object, e.g. "open(/dev/shm/onecopy-0/w)": a leading
  ///        "name(" gives call(), and its first argument path() when it is an absolute path or
  ///        the call takes one (open, stat, read, write, mkdir, rename, readdir, …): up to the
  ///        ", " or ")" that closes it (a path holding ", " is cut there)
  os_error(int err, const std::string& what);
  /// For messages that are not "call(path)": path given apart, e.g. ("input model.bin", path).
  os_error(int err, const std::string& what, std::filesystem::path path);
  [[nodiscard]] int err() const noexcept { return code().value(); }
  /// The failed call ("open", "mbind"), or "" when what did not start with one.
  [[nodiscard]] const std::string& call() const noexcept { return call_; }
  /// The file or directory the call was about, or empty when it named none.
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::string call_;
  std::filesystem::path path_;
};

/// A store, tmpfs or disk has no room for a segment (ENOSPC, or EFAULT from a populate on a
/// full tmpfs). The message names the directory and the free versus needed bytes.
class no_space_error : public os_error {
 public:
  using os_error::os_error;
};

/// A huge-page pool (global or one node's) holds fewer free pages than a segment needs.
class hugepage_pool_error : public os_error {
 public:
  using os_error::os_error;
};

/// Not enough memory (ENOMEM) for a mapping, or a memory budget that a plan cannot meet.
class out_of_memory_error : public os_error {
 public:
  using os_error::os_error;
};

/// The process or system ran out of file descriptors (EMFILE, ENFILE).
class fd_limit_error : public os_error {
 public:
  using os_error::os_error;
};

/// Permission denied (EACCES, EPERM), or a store directory that is not safely ours.
class permission_error : public os_error {
 public:
  using os_error::os_error;
};

/// Throws the os_error subclass that matches err: ENOSPC → no_space_error, ENOMEM →
/// out_of_memory_error, EMFILE/ENFILE → fd_limit_error, EACCES/EPERM → permission_error.
[[noreturn]] void throw_os_error(int err, const std::string& what);

/// A caller broke a precondition: a bad name, size, option or state. The message says what
/// was wrong and what is allowed.
class usage_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A segment or input file is malformed. The message names the file and the field.
class format_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A requested page size or placement could not be honoured and the caller asked for strict.
class fallback_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Waiting for another process (a creator holding a name's lock) took longer than allowed.
class timeout_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace onecopy
