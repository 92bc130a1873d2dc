// SPDX-License-Identifier: Apache-2.0
#include "regions.hpp"

#include "onecopy/engine/memory_usage.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/sys/memory.hpp"
#include "onecopy/units.hpp"

namespace onecopy::bench {
std::string_view label(page_kind k) noexcept {
  switch (k) {
    case page_kind::base: return "shm_4k";
    case page_kind::thp: return "thp_2m";
    case page_kind::hugetlb_2m: return "hugetlb_2m";
    case page_kind::hugetlb_1g: return "hugetlb_1g";
  }
  return "?";
}

std::uint64_t page_bytes(page_kind k) noexcept {
  switch (k) {
    case page_kind::base: return 4 * KiB;
    case page_kind::thp: return 2 * MiB;
    case page_kind::hugetlb_2m: return 2 * MiB;
    case page_kind::hugetlb_1g: return GiB;
  }
  return 4 * KiB;
}

page_kind kind_of(backing_kind kind, std::uint64_t page_size) noexcept {
  if (kind == backing_kind::hugetlbfs) return page_size >= GiB ? page_kind::hugetlb_1g : page_kind::hugetlb_2m;
  if (kind == backing_kind::thp) return page_kind::thp;
  return page_kind::base;
}

region region::private_anonymous(page_kind k, std::uint64_t size) {
  const bool hugetlb = k == page_kind::hugetlb_2m || k == page_kind::hugetlb_1g;
  sys::mapping map;
  try {
    map = sys::map_private_anonymous(size, hugetlb ? page_bytes(k) : 0);
  } catch (const out_of_memory_error& e) {
    if (!hugetlb) throw;
    throw out_of_memory_error(e.err(), fmt::format("{} (is the huge-page pool large enough?)", e.what()));
  }
  if (k == page_kind::thp) (void)sys::advise(map.bytes(), sys::advice::huge_pages);
  if (k == page_kind::base) (void)sys::advise(map.bytes(), sys::advice::no_huge_pages);
  if (const int err = sys::advise(map.bytes(), sys::advice::populate_write))
    throw_os_error(err, fmt::format("madvise(private anonymous {}, MADV_POPULATE_WRITE)", format_bytes(size)));
  return region(std::move(map));
}

region region::posix_shm(std::uint64_t size, std::span<const std::byte> contents) {
  const std::string name = fmt::format("/onecopy-bench-{}-{}", ::getpid(), size);
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) sys::throw_errno(fmt::format("shm_open({})", name));
  ::shm_unlink(name.c_str());  // nothing is left behind, whatever happens next
  sys::unique_fd owner(fd);
  sys::truncate(fd, size, name);
  {
    const sys::mapping w = sys::map_shared(fd, size, sys::access::read_write, name);
    if (contents.empty()) {
      fill_pattern(w.bytes());
    } else {
      std::memcpy(w.data(), contents.data(), std::min<std::uint64_t>(size, contents.size()));
    }
  }
  sys::mapping r = sys::map_shared(fd, size, sys::access::read_only, name);
  // A reader's first touch maps the pages; the benchmarks measure it apart (populate now).
  (void)sys::advise(r.bytes(), sys::advice::populate_read);
  return region(std::move(r));
}

std::string region::pages() const { return pages_of(map_.data()); }

void fill_pattern(std::span<std::byte> bytes, std::uint64_t seed) {
  const std::size_t words = bytes.size() / 8;
  auto* w = reinterpret_cast<std::uint64_t*>(bytes.data());
  for (std::size_t i = 0; i < words; ++i) w[i] = (i + seed) * 0x9E3779B97F4A7C15ull;
}

std::string pages_of(const void* addr) {
  const mapping_pages m = pages_of_mapping(addr);
  if (m.kernel_page_size > 4 * KiB) return format_page_size(m.kernel_page_size);
  if (m.pmd_mapped > 0)
    return fmt::format("2 MiB THP ({:.0f}% huge)",
                       m.rss ? 100.0 * static_cast<double>(m.pmd_mapped) / static_cast<double>(m.rss) : 0.0);
  return format_page_size(m.kernel_page_size ? m.kernel_page_size : 4 * KiB);
}

}  // namespace onecopy::bench
