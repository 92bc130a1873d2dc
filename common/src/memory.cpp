// SPDX-License-Identifier: Apache-2.0
#include "onecopy/sys/memory.hpp"

#include <fcntl.h>
#include <numaif.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"

namespace onecopy::sys {
namespace {

// mbind's node mask is this many bits; a node past it cannot be named.
constexpr int max_nodes = 1024;

std::string_view prot_name(access how) { return how == access::read_only ? "PROT_READ" : "PROT_READ|PROT_WRITE"; }

// mmap or the named error: ENOMEM gets the mapping-count hint, since it is often the per-process
// limit and not memory that ran out. The message is built only on failure (attach maps on its
// fast path: no formatting or allocation when it works).
template <class Describe>
mapping map_or_throw(std::size_t length, int prot, int flags, int fd, Describe&& describe) {
  void* addr = ::mmap(nullptr, length, prot, flags, fd, 0);
  if (addr == MAP_FAILED) {
    const int err = errno;
    const std::string what = describe();
    throw_os_error(err, err == ENOMEM ? what + mapping_limit_hint() : what);
  }
  return mapping(addr, length);
}

}  // namespace

mapping map_shared(int fd, std::size_t length, access how, const std::filesystem::path& name) {
  const int prot = how == access::read_only ? PROT_READ : PROT_READ | PROT_WRITE;
  return map_or_throw(length, prot, MAP_SHARED, fd, [&] {
    return fmt::format("mmap({}, {}, {})", name.string(), format_bytes(length), prot_name(how));
  });
}

mapping map_private(int fd, std::size_t length, const std::filesystem::path& name) {
  return map_or_throw(length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, [&] {
    return fmt::format("mmap({}, {}, copy-on-write)", name.string(), format_bytes(length));
  });
}

mapping map_private_anonymous(std::size_t length, std::uint64_t huge_page_size) {
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
  // MAP_HUGETLB takes the page size as its log2 in the bits above MAP_HUGE_SHIFT.
  if (huge_page_size != 0) flags |= MAP_HUGETLB | (std::countr_zero(huge_page_size) << MAP_HUGE_SHIFT);
  return map_or_throw(length, PROT_READ | PROT_WRITE, flags, -1, [&] {
    return fmt::format("mmap(private anonymous, {}, {} pages)", format_bytes(length),
                       huge_page_size != 0 ? format_page_size(huge_page_size) : "base");
  });
}

mapping map_shared_anonymous(std::size_t length) {
  return map_or_throw(length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                      [&] { return fmt::format("mmap(shared anonymous, {})", format_bytes(length)); });
}

int advise(std::span<const std::byte> range, advice a) noexcept {
  if (range.empty()) return 0;
  int how = MADV_NORMAL;
  switch (a) {
    case advice::huge_pages: how = MADV_HUGEPAGE; break;
    case advice::no_huge_pages: how = MADV_NOHUGEPAGE; break;
    case advice::populate_read: how = MADV_POPULATE_READ; break;
    case advice::populate_write: how = MADV_POPULATE_WRITE; break;
  }
  return ::madvise(const_cast<std::byte*>(range.data()), range.size(), how) == 0 ? 0 : errno;
}

void protect_read_only(std::span<const std::byte> range, const std::filesystem::path& name) {
  if (::mprotect(const_cast<std::byte*>(range.data()), range.size(), PROT_READ) != 0)
    throw_errno(fmt::format("mprotect({}, PROT_READ)", name.string()));
}

void bind_memory(std::span<const std::byte> range, memory_policy policy, std::span<const int> nodes) {
  if (range.empty()) return;
  constexpr int bits = 8 * sizeof(unsigned long);
  unsigned long mask[max_nodes / bits] = {};
  for (int n : nodes) {
    if (n < 0 || n >= max_nodes)
      throw usage_error(fmt::format("mbind: NUMA node {} is outside 0-{}", n, max_nodes - 1));
    mask[n / bits] |= 1ul << (n % bits);
  }
  const int mode = policy == memory_policy::bind ? MPOL_BIND : MPOL_INTERLEAVE;
  if (::mbind(const_cast<std::byte*>(range.data()), range.size(), mode, mask, max_nodes + 1, 0) != 0) {
    const int err = errno;
    const std::string_view name = policy == memory_policy::bind ? "bind" : "interleave";
    const std::vector<int> list(nodes.begin(), nodes.end());
    throw_os_error(err, fmt::format("mbind({}{}{}, {})", name, list.empty() ? "" : ":", format_cpulist(list),
                                    format_bytes(range.size())));
  }
}

std::string mapping_limit_hint() {
  const auto limit = read_number("/proc/sys/vm/max_map_count");
  if (!limit) return {};
  // Counted through a buffer on the stack: at the limit, a string holding all of /proc/self/maps
  // would need a new mapping itself, and fail.
  const unique_fd maps(::open("/proc/self/maps", O_RDONLY | O_CLOEXEC));
  if (!maps) return {};
  std::uint64_t count = 0;
  char buffer[16384];
  for (;;) {
    const ssize_t got = ::read(maps.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    count += static_cast<std::uint64_t>(std::count(buffer, buffer + got, '\n'));
  }
  if (count + 16 < *limit) return {};
  return fmt::format(" (this process has {} mappings and vm.max_map_count is {}: each attached "
                     "segment is one; raise it with sysctl vm.max_map_count=N)", count, *limit);
}

}  // namespace onecopy::sys
