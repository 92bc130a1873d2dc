// SPDX-License-Identifier: Apache-2.0
#include "onecopy/sys/calls.hpp"

#include <fcntl.h>
#include <signal.h>
#include <dirent.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <atomic>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/units.hpp"

namespace onecopy::sys {

std::string errno_text(int err) {
  char buffer[256];
  // GNU strerror_r returns the message pointer, which may or may not be buffer.
  const char* text = ::strerror_r(err, buffer, sizeof buffer);
  return text;
}

void throw_errno(const std::string& what) {
  const int err = errno;
  throw_os_error(err, what);
}

unique_fd open(const std::filesystem::path& path, int flags, unsigned mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_errno(fmt::format("open({})", path.string()));
  return unique_fd(fd);
}

unique_fd open_if_exists(const std::filesystem::path& path, int flags) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == ENOENT) return unique_fd();
    throw_errno(fmt::format("open({})", path.string()));
  }
  return unique_fd(fd);
}

namespace {
file_status from_stat(const struct ::stat& st) {
  file_status s;
  s.device = st.st_dev;
  s.inode = st.st_ino;
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.block_size = static_cast<std::uint64_t>(st.st_blksize);
  s.mode = st.st_mode;
  s.uid = st.st_uid;
  s.links = static_cast<std::uint32_t>(st.st_nlink);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  s.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  return s;
}
}  // namespace

bool file_status::is_directory() const noexcept { return S_ISDIR(mode); }
bool file_status::is_regular() const noexcept { return S_ISREG(mode); }

file_status fstat(int fd, const std::filesystem::path& name) {
  struct ::stat st {};
  if (::fstat(fd, &st) != 0) throw_errno(fmt::format("fstat({})", name.string()));
  return from_stat(st);
}

std::optional<file_status> lstat_if_exists(const std::filesystem::path& path) {
  struct ::stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw_errno(fmt::format("lstat({})", path.string()));
  }
  return from_stat(st);
}

std::string_view file_kind(std::uint32_t mode) noexcept {
  switch (mode & S_IFMT) {
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
    case S_IFDIR: return "a directory";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFREG: return "a regular file";
  }
  return "a file of unknown type";
}

unique_fd open_directory_if_exists(const std::filesystem::path& path, std::string_view purpose) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd >= 0) return unique_fd(fd);
  const int err = errno;
  if (err == ENOENT) return unique_fd();
  if (err == ENOTDIR || err == ELOOP) {
    struct ::stat st {};
    if (::lstat(path.c_str(), &st) == 0)
      throw_os_error(ENOTDIR, fmt::format("open({}): it is {}, not a directory", path.string(), file_kind(st.st_mode)));
  }
  throw_os_error(err, purpose.empty() ? fmt::format("open({})", path.string())
                                      : fmt::format("open({}) to {}", path.string(), purpose));
}

std::optional<file_status> stat_at_if_exists(int dirfd, const std::filesystem::path& dir, std::string_view name) {
  struct ::stat st {};
  const std::string n(name);
  if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno(fmt::format("stat({})", (dir / n).string()));
  }
  return from_stat(st);
}

namespace {
// openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS; falls back to openat with O_NOFOLLOW on
// kernels before 5.6 (ENOSYS) or where a seccomp filter refuses it (EPERM), remembered.
int open_beneath(int dirfd, const char* name, int flags, unsigned mode) {
  static std::atomic<bool> no_openat2{false};
  flags |= O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  if (!no_openat2.load(std::memory_order_relaxed)) {
    struct ::open_how how {};
    how.flags = static_cast<unsigned>(flags);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    const long fd = ::syscall(SYS_openat2, dirfd, name, &how, sizeof how);
    if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return static_cast<int>(fd);
    no_openat2.store(true, std::memory_order_relaxed);
  }
  return ::openat(dirfd, name, flags, mode);
}

[[noreturn]] void refuse(int err, const std::string& path, std::string_view kind) {
  throw_os_error(err, fmt::format("open({}): it is {}, not a regular file (onecopy never opens one: "
                                  "remove it)", path, kind));
}
}  // namespace

unique_fd open_regular_at(int dirfd, const std::filesystem::path& dir, std::string_view name, int flags,
                          unsigned mode, file_status* status, std::optional<std::uint32_t> owner) {
  const std::string n(name);
  int fd;
  do {
    fd = open_beneath(dirfd, n.c_str(), flags, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return unique_fd();
    // ELOOP (symlink), ENXIO (socket, FIFO without a writer for O_WRONLY), EISDIR, EXDEV
    // (RESOLVE_BENEATH), ENODEV…: say what is there rather than a bare errno.
    struct ::stat st {};
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
      refuse(err == ELOOP || err == EISDIR ? err : ENXIO, (dir / n).string(), file_kind(st.st_mode));
    throw_os_error(err, fmt::format("open({})", (dir / n).string()));
  }
  unique_fd out(fd);
  struct ::stat st {};
  if (::fstat(fd, &st) != 0) throw_errno(fmt::format("fstat({})", (dir / n).string()));
  if (!S_ISREG(st.st_mode))
    refuse(S_ISDIR(st.st_mode) ? EISDIR : ENXIO, (dir / n).string(), file_kind(st.st_mode));
  const std::uint32_t me = owner ? *owner : ::geteuid();
  if (st.st_uid != me)
    throw_os_error(EPERM, fmt::format("open({}): it is owned by uid {}, not by you (uid {}); refusing it",
                                      (dir / n).string(), st.st_uid, me));
  if ((st.st_mode & 022) != 0)
    throw_os_error(EPERM, fmt::format("open({}): its mode {:04o} lets others write it; refusing it",
                                      (dir / n).string(), st.st_mode & 07777));
  if (status != nullptr) *status = from_stat(st);
  return out;
}

std::vector<std::string> list_directory(int dirfd, const std::filesystem::path& dir) {
  // fdopendir takes the fd and readdir moves its offset: work on a fresh open of the same directory.
  const int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno(fmt::format("open({})", dir.string()));
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    throw_os_error(err, fmt::format("fdopendir({})", dir.string()));
  }
  std::vector<std::string> names;
  errno = 0;
  while (const ::dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
    errno = 0;
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) throw_os_error(err, fmt::format("readdir({})", dir.string()));
  return names;
}

void truncate(int fd, std::uint64_t size, const std::filesystem::path& name) {
  int rc;
  do {
    rc = ::ftruncate(fd, static_cast<off_t>(size));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) throw_errno(fmt::format("ftruncate({}, {})", name.string(), format_bytes(size)));
}

void rename_noreplace(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0)
    throw_errno(fmt::format("renameat2({}, {}, RENAME_NOREPLACE)", from.string(), to.string()));
}

void rename(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) throw_errno(fmt::format("rename({}, {})", from.string(), to.string()));
}

std::size_t pread_full(int fd, void* buffer, std::size_t len, std::uint64_t offset,
                       const std::filesystem::path& name) {
  auto* out = static_cast<char*>(buffer);
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pread(fd, out + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(fmt::format("pread({}, {} bytes at {})", name.string(), len - done, offset + done));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

void pwrite_full(int fd, const void* buffer, std::size_t len, std::uint64_t offset,
                 const std::filesystem::path& name) {
  const auto* in = static_cast<const char*>(buffer);
  for (std::size_t done = 0; done < len;) {
    const ssize_t n = ::pwrite(fd, in + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw_os_error(n < 0 ? errno : ENOSPC,
                     fmt::format("pwrite({}, {} bytes at {})", name.string(), len - done, offset + done));
    done += static_cast<std::size_t>(n);
  }
}

std::string read_text(const std::filesystem::path& path) {
  unique_fd fd = open(path, O_RDONLY);
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(fmt::format("read({})", path.string()));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

std::optional<std::string> read_text_if_exists(const std::filesystem::path& path) {
  try {
    return read_text(path);
  } catch (const os_error&) {
    return std::nullopt;
  }
}

std::optional<std::uint64_t> read_number(const std::filesystem::path& path) {
  auto text = read_text_if_exists(path);
  if (!text) return std::nullopt;
  std::uint64_t value = 0;
  const char* begin = text->data();
  while (begin < text->data() + text->size() && (*begin == ' ' || *begin == '\t')) ++begin;
  auto [end, ec] = std::from_chars(begin, text->data() + text->size(), value);
  if (ec != std::errc() || end == begin) return std::nullopt;
  return value;
}

void write_text(const std::filesystem::path& path, std::string_view text) {
  unique_fd fd = open(path, O_WRONLY | O_TRUNC);
  const ssize_t n = ::write(fd.get(), text.data(), text.size());
  if (n < 0 || static_cast<std::size_t>(n) != text.size())
    throw_errno(fmt::format("write({}, \"{}\")", path.string(), text));
}

std::string read_line(int fd) {
  std::string line;
  char c = 0;
  for (;;) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line += c;
  }
  return line;
}

std::vector<int> parse_cpulist(std::string_view text) {
  std::vector<int> ids;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view part = text.substr(pos, comma - pos);
    int first = 0;
    int last = 0;
    const auto dash = part.find('-');
    const auto a = part.substr(0, dash);
    auto r1 = std::from_chars(a.data(), a.data() + a.size(), first);
    if (r1.ec != std::errc() || r1.ptr != a.data() + a.size() || first < 0)
      throw usage_error(fmt::format("bad CPU or node list '{}': expected e.g. 0-3,8", text));
    last = first;
    if (dash != std::string_view::npos) {
      const auto b = part.substr(dash + 1);
      auto r2 = std::from_chars(b.data(), b.data() + b.size(), last);
      if (r2.ec != std::errc() || r2.ptr != b.data() + b.size() || last < first)
        throw usage_error(fmt::format("bad CPU or node list '{}': expected e.g. 0-3,8", text));
    }
    for (int i = first; i <= last; ++i) ids.push_back(i);
    pos = comma + 1;
  }
  return ids;
}

std::string format_cpulist(const std::vector<int>& ids) {
  std::string out;
  std::size_t i = 0;
  while (i < ids.size()) {
    std::size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", ids[i]) : fmt::format("{}-{}", ids[i], ids[j]);
    i = j + 1;
  }
  return out;
}

std::string host_name() {
  struct ::utsname u {};
  if (::uname(&u) != 0) return "unknown";
  return u.nodename;
}

bool process_alive(int pid) noexcept {
  if (pid <= 0) return false;
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

}  // namespace onecopy::sys
