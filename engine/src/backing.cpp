// SPDX-License-Identifier: Apache-2.0
#include "backing.hpp"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <sstream>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"

namespace onecopy::detail {
namespace {
constexpr long hugetlbfs_magic = 0x958458f6;
constexpr long tmpfs_magic = 0x01021994;

// The mount that contains path: the longest mount directory that is a prefix of it.
std::optional<sysfs::mount_entry> mount_of(const std::filesystem::path& path) {
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(path, ec);
  if (ec) canonical = path;
  const std::string p = canonical.string();
  std::optional<sysfs::mount_entry> best;
  for (auto& m : sysfs::mounts()) {
    const std::string d = m.dir.string();
    const bool prefix = p == d || (p.rfind(d, 0) == 0 && (d == "/" || p[d.size()] == '/'));
    // Later lines win on ties: they are mounted on top.
    if (prefix && (!best || d.size() >= best->dir.string().size())) best = m;
  }
  return best;
}
}  // namespace

std::string user_dir_name() { return fmt::format("onecopy-{}", ::geteuid()); }

backing_info probe_backing(const std::filesystem::path& dir) {
  backing_info b;
  b.dir = dir;
  b.page_size = sysfs::base_page_size();
  // statfs the directory, or its nearest existing parent.
  std::filesystem::path probe = dir;
  struct ::statfs fs {};
  while (::statfs(probe.c_str(), &fs) != 0) {
    if (!probe.has_parent_path() || probe.parent_path() == probe) return b;
    probe = probe.parent_path();
  }
  if (static_cast<long>(fs.f_type) == hugetlbfs_magic) {
    b.kind = backing_kind::hugetlbfs;
    b.page_size = static_cast<std::uint64_t>(fs.f_bsize);
  } else if (static_cast<long>(fs.f_type) == tmpfs_magic) {
    b.kind = backing_kind::shm;
    if (auto m = mount_of(probe); m && sysfs::tmpfs_gives_thp(*m)) {
      b.kind = backing_kind::thp;
      b.page_size = 2 * MiB;
    }
  }
  return b;
}

// Free bytes on the filesystem of dir (or of its parent while dir does not exist yet).
std::uint64_t free_space(const std::filesystem::path& dir) {
  struct ::statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0 && ::statvfs(dir.parent_path().c_str(), &fs) != 0) return UINT64_MAX;
  return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

// Host-wide free huge pages of one size, less those reserved by existing mappings.
std::uint64_t host_available_hugepages(std::uint64_t page) {
  const auto dir = fmt::format("/sys/kernel/mm/hugepages/hugepages-{}kB", page / KiB);
  const auto free = sys::read_number(dir + "/free_hugepages").value_or(0);
  const auto resv = sys::read_number(dir + "/resv_hugepages").value_or(0);
  return free > resv ? free - resv : 0;
}

// Files on hugetlbfs are whole huge pages; a THP tmpfs maps the huge-page-sized parts of a file of
// any size with huge pages and the tail with base pages, so it needs no rounding.
std::uint64_t file_granule(const backing_info& b) {
  return b.kind == backing_kind::hugetlbfs ? b.page_size : sysfs::base_page_size();
}

// Why a hugetlbfs backing cannot hold pages × page for where; "" when it can.
std::string hugepage_shortage(const backing_info& b, std::uint64_t pages, const placement& where) {
  if (where.policy == numa_policy::local) {
    const auto avail = host_available_hugepages(b.page_size);
    if (avail < pages)
      return fmt::format("the {} pool has {} free pages, need {} (grow it: onecopy setup "
                         "--hugepages …)", format_page_size(b.page_size), avail, pages);
    return {};
  }
  const std::uint64_t n = where.nodes.size();
  for (std::size_t i = 0; i < where.nodes.size(); ++i) {
    const int node = where.nodes[i];
    // bind fills the nodes in any order, interleave spreads evenly: check the even share.
    const std::uint64_t need = where.policy == numa_policy::interleave ? (pages + n - 1) / n : 0;
    const auto free = sysfs::free_hugepages(node, b.page_size);
    if (where.policy == numa_policy::interleave && free < need)
      return fmt::format("node {} has {} free {} pages, need {}", node, free, format_page_size(b.page_size), need);
  }
  if (where.policy == numa_policy::bind) {
    std::uint64_t free = 0;
    for (int node : where.nodes) free += sysfs::free_hugepages(node, b.page_size);
    if (free < pages)
      return fmt::format("node{} {} {} {} free {} pages, need {}", n > 1 ? "s" : "",
                         sys::format_cpulist(where.nodes), n > 1 ? "have" : "has", free,
                         format_page_size(b.page_size), pages);
  }
  return {};
}

void sort_backings(std::vector<backing_info>& backings) {
  auto rank = [](const backing_info& b) {
    switch (b.kind) {
      case backing_kind::hugetlbfs: return 0;
      case backing_kind::thp: return 1;
      case backing_kind::shm: return 2;
      case backing_kind::directory: return 3;
    }
    return 4;
  };
  std::stable_sort(backings.begin(), backings.end(), [&](const backing_info& a, const backing_info& b) {
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    return a.page_size > b.page_size;
  });
}

std::optional<store_config> read_config(const std::filesystem::path& file) {
  auto text = sys::read_text_if_exists(file);
  if (!text) return std::nullopt;
  store_config config;
  std::istringstream in(*text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t\r"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    line = trim(line);
    if (line.empty()) continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos)
      throw format_error(fmt::format("{}:{}: expected 'key = value', got '{}'", file.string(), number, line));
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    if (key == "store") config.roots.emplace_back(value);
    else if (key == "lock_root") config.lock_root = value;
  }
  if (config.roots.empty()) config.roots.emplace_back("/dev/shm");
  if (config.lock_root.empty()) config.lock_root = std::filesystem::path("/dev/shm") / user_dir_name();
  return config;
}

store_config discover_config() {
  store_config config;
  std::vector<std::uint64_t> seen_sizes;
  bool have_thp = false;
  for (const auto& m : sysfs::mounts()) {
    if (m.type == "hugetlbfs") {
      const auto size = sysfs::hugetlbfs_page_size(m);
      if (size == 0 || std::find(seen_sizes.begin(), seen_sizes.end(), size) != seen_sizes.end()) continue;
      if (::access(m.dir.c_str(), W_OK | X_OK) != 0) continue;
      seen_sizes.push_back(size);
      config.roots.push_back(m.dir);
    } else if (!have_thp && sysfs::tmpfs_gives_thp(m) && ::access(m.dir.c_str(), W_OK | X_OK) == 0) {
      have_thp = true;
      config.roots.push_back(m.dir);
    }
  }
  config.roots.emplace_back("/dev/shm");
  config.lock_root = std::filesystem::path("/dev/shm") / user_dir_name();
  return config;
}

sys::unique_fd open_private_dir(const std::filesystem::path& dir, std::string_view purpose, std::uint32_t* owner) {
  sys::unique_fd fd;
  try {
    fd = sys::open_directory_if_exists(dir, purpose);
  } catch (const fd_limit_error&) {
    // As it is: with no descriptor left, UBSan's type check of e.err() below fails by itself (it
    // probes memory through a pipe).
    throw;
  } catch (const os_error& e) {
    if (e.err() != ENOTDIR) throw;
    throw permission_error(ENOTDIR, fmt::format("store directory {} is not a directory (a symlink "
                                                "or file is in the way): {}", dir.string(), e.what()), dir);
  }
  if (!fd) return fd;
  const auto st = sys::fstat(fd.get(), dir);
  const std::uint32_t me = ::geteuid();
  if (st.uid != me)
    throw permission_error(EPERM, fmt::format("store directory {} is owned by uid {}, not by you "
                                              "(uid {}); refusing to use it", dir.string(), st.uid, me), dir);
  if ((st.mode & 077) != 0)
    throw permission_error(EPERM, fmt::format("store directory {} has mode {:04o}; onecopy needs 0700 "
                                              "so other users cannot read or replace segments "
                                              "(chmod 700 {})", dir.string(), st.mode & 07777,
                                              dir.string()), dir);
  if (owner != nullptr) *owner = me;
  return fd;
}

bool check_private_dir(const std::filesystem::path& dir) { return static_cast<bool>(open_private_dir(dir)); }

void ensure_private_dir(const std::filesystem::path& dir) {
  if (check_private_dir(dir)) return;
  // Ancestors above the store directory are ordinary directories; only dir itself is private.
  if (dir.has_parent_path() && dir.parent_path() != dir && !sys::lstat_if_exists(dir.parent_path())) {
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) throw_os_error(ec.value(), fmt::format("mkdir({})", dir.parent_path().string()));
  }
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno != EEXIST) sys::throw_errno(fmt::format("mkdir({}, 0700)", dir.string()));
    (void)check_private_dir(dir);  // someone else made it first: it must still be private and ours
    return;
  }
  // umask may have narrowed 0700 further; make it exactly 0700.
  if (::chmod(dir.c_str(), 0700) != 0) sys::throw_errno(fmt::format("chmod({}, 0700)", dir.string()));
}

}  // namespace onecopy::detail
