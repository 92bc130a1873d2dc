// SPDX-License-Identifier: Apache-2.0
#include "regions.hpp"

#include "onecopy/engine/memory_usage.hpp"

#include <fcntl.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"

namespace onecopy::bench {
namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(fmt::format("{}: {}", what, sys::errno_text(err)));
}

}  // namespace

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
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
  if (k == page_kind::hugetlb_2m) flags |= MAP_HUGETLB | static_cast<int>(MAP_HUGE_2MB);
  if (k == page_kind::hugetlb_1g) flags |= MAP_HUGETLB | static_cast<int>(MAP_HUGE_1GB);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED)
    fail(fmt::format("mmap(private anonymous, {}, {} pages){}", format_bytes(size), label(k),
                     (flags & MAP_HUGETLB) ? " (is the huge-page pool large enough?)" : ""), errno);
  region r(static_cast<std::byte*>(p), size);
  if (k == page_kind::thp) (void)::madvise(p, size, MADV_HUGEPAGE);
  if (k == page_kind::base) (void)::madvise(p, size, MADV_NOHUGEPAGE);
  if (::madvise(p, size, MADV_POPULATE_WRITE) != 0)
    fail(fmt::format("madvise(private anonymous {}, MADV_POPULATE_WRITE)", format_bytes(size)), errno);
  return r;
}

region region::posix_shm(std::uint64_t size, std::span<const std::byte> contents) {
  const std::string name = fmt::format("/onecopy-bench-{}-{}", ::getpid(), size);
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail(fmt::format("shm_open({})", name), errno);
  ::shm_unlink(name.c_str());  // nothing is left behind, whatever happens next
  sys::unique_fd owner(fd);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) fail(fmt::format("ftruncate({})", name), errno);
  void* w = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (w == MAP_FAILED) fail(fmt::format("mmap({}, writable)", name), errno);
  if (contents.empty()) {
    fill_pattern({static_cast<std::byte*>(w), size});
  } else {
    std::memcpy(w, contents.data(), std::min<std::uint64_t>(size, contents.size()));
  }
  ::munmap(w, size);
  void* r = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (r == MAP_FAILED) fail(fmt::format("mmap({}, read-only)", name), errno);
  // A reader's first touch maps the pages; the benchmarks measure it apart (populate now).
  (void)::madvise(r, size, MADV_POPULATE_READ);
  return region(static_cast<std::byte*>(r), size);
}

region::region(region&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
region& region::operator=(region&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}
region::~region() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

std::string region::pages() const { return pages_of(data_); }

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
