// SPDX-License-Identifier: Apache-2.0
// The pages of a draft's file: allocated and placed all at once (populate) or around what the
// fill wrote (allocate_rest), and recorded as the kernel gave them (record_pages).
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include <fmt/format.h>

#include "backing.hpp"
#include "internals.hpp"
#include "numa_memory.hpp"
#include "onecopy/engine/memory_usage.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"
#include "test_hooks.hpp"

namespace onecopy {
namespace {
using clock = std::chrono::steady_clock;
}  // namespace

// Allocates, places and maps every page of d's file. Throws the named errors.
void detail::populate(draft::impl& d) {
  const backing_info& b = d.backing;
  const std::uint64_t file_size = d.info.file_size;
  detail::test_pause_point("before_populate");
  const auto start = clock::now();
  if (const int err = detail::populate_write(d.map.bytes(), b.page_size, d.report.where, d.opts.threads))
    throw_page_shortage(d, err, fmt::format("populate {} ({})", d.temp_path.string(), format_bytes(file_size)));
  d.report.populate_seconds += std::chrono::duration<double>(clock::now() - start).count();
  d.populated = true;
  detail::test_pause_point("after_populate");

  record_pages(d, true);
}

// Records what the kernel really gave, not what we asked for: page size, huge bytes, the node of
// every page (move_pages). pre: every page of d.map is mapped, or !mapped and the host has one
// memory node and d is not on a THP tmpfs.
void detail::record_pages(draft::impl& d, bool mapped) {
  const backing_info& b = d.backing;
  const std::uint64_t file_size = d.info.file_size;
  void* addr = d.map.data();
  const auto pages = pages_of_mapping(addr);
  std::uint64_t obtained = pages.kernel_page_size ? pages.kernel_page_size : sysfs::base_page_size();
  std::uint64_t huge = b.kind == backing_kind::hugetlbfs ? file_size : pages.pmd_mapped;
  if (b.kind != backing_kind::hugetlbfs && pages.pmd_mapped > 0) obtained = 2 * MiB;
  d.report.page_size = obtained;
  d.report.huge_bytes = huge;
  const auto nodes = sysfs::memory_nodes();
  if (!mapped && nodes.size() == 1)  // one memory node: every page is on it
    d.report.histogram = {{nodes.front(), (file_size + obtained - 1) / obtained}};
  else
    d.report.histogram = detail::node_histogram(d.map.bytes(), obtained);
  d.info.page_size = obtained;
  d.info.huge_bytes = huge;
  d.info.backing = b.kind;
  d.info.histogram = d.report.histogram;
  if (d.info.histogram.size() > max_histogram_nodes) d.info.histogram.resize(max_histogram_nodes);
  if (b.kind == backing_kind::thp && huge == 0)
    d.report.warnings.push_back(fmt::format("{} is a huge= tmpfs but the kernel mapped no huge pages "
                                            "(ShmemPmdMapped 0): check shmem_enabled and free memory",
                                            b.dir.string()));
}

void detail::throw_page_shortage(const draft::impl& d, int err, const std::string& what) {
  const backing_info& b = d.backing;
  if (b.kind == backing_kind::hugetlbfs) {
    const auto why = detail::hugepage_shortage(b, d.info.file_size / b.page_size, d.report.where);
    throw hugepage_pool_error(err, fmt::format("{}: {}", what, why.empty() ? "huge-page pool exhausted" : why));
  }
  // A full tmpfs makes MADV_POPULATE_WRITE fail with EFAULT: report it as what it is.
  if (err == EFAULT || err == ENOSPC || err == ENOMEM) throw_no_space(d, what);
  throw_os_error(err, what);
}

void detail::throw_no_space(const draft::impl& d, const std::string& what) {
  throw no_space_error(ENOSPC, fmt::format("{}: no space left in {} ({} free of {} needed)", what,
                                           d.backing.dir.string(), format_bytes(detail::free_space(d.backing.dir)),
                                           format_bytes(d.info.file_size)));
}

void detail::allocate_rest(draft::impl& d) {
  std::sort(d.written.begin(), d.written.end());
  const auto start = clock::now();
  std::uint64_t at = 0;
  auto allocate = [&](std::uint64_t from, std::uint64_t to) {
    if (from >= to) return;
    if (::fallocate(d.fd.get(), 0, static_cast<off_t>(from), static_cast<off_t>(to - from)) != 0) {
      const int err = errno;
      const std::string what = fmt::format("fallocate({}, {} at {})", d.temp_path.string(),
                                           format_bytes(to - from), from);
      if (err == ENOSPC) throw_no_space(d, what);
      throw_os_error(err, what);
    }
  };
  for (const auto& [begin, end] : d.written) {
    allocate(at, begin);
    at = std::max(at, end);
  }
  allocate(at, d.info.file_size);
  d.report.populate_seconds += std::chrono::duration<double>(clock::now() - start).count();
}

}  // namespace onecopy
