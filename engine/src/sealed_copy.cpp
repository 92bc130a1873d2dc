// SPDX-License-Identifier: Apache-2.0
// sealed_copy: a published segment copied into a sealed memfd (see sealed_copy.hpp).
#include "onecopy/engine/sealed_copy.hpp"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <thread>

#include <fmt/format.h>

#include "numa_memory.hpp"
#include "onecopy/engine/attach_fd.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/sys/memory.hpp"
#include "onecopy/units.hpp"
#include "parallel_read.hpp"

namespace onecopy {

int sealed_copy_seals() noexcept { return F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL; }

namespace {

// memfd_create flags for pages like the source's: hugetlb of its size, else shmem (THP is
// advised on the mapping, as on a THP tmpfs).
unsigned memfd_flags(const segment_info& info) {
  unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  if (info.backing == backing_kind::hugetlbfs)
    flags |= MFD_HUGETLB | (static_cast<unsigned>(std::countr_zero(info.page_size)) << MFD_HUGE_SHIFT);
  return flags;
}

}  // namespace

segment sealed_copy(const segment& source, std::string_view name) {
  const segment_info& info = source.info();
  const std::string what = fmt::format("sealed copy of segment '{}' ({}, {} pages)", name, format_bytes(info.file_size),
                                       info.backing == backing_kind::hugetlbfs ? format_page_size(info.page_size) : "base");
  // The source's own descriptor when it kept one, else a fresh read-only open of its file.
  sys::unique_fd reopened;
  int from = source.fd();
  if (from < 0) {
    reopened = sys::open(source.path(), O_RDONLY);
    from = reopened.get();
  }
  const std::string memfd_name = fmt::format("onecopy:{}", name);
  sys::unique_fd memfd(::memfd_create(memfd_name.c_str(), memfd_flags(info)));
  if (!memfd) sys::throw_errno(fmt::format("{}: memfd_create", what));
  const std::string memfd_path = fmt::format("memfd:{}", memfd_name);
  sys::truncate(memfd.get(), info.file_size, memfd_path);
  {
    // Unmapped before sealing: F_SEAL_WRITE is refused (EBUSY) while a writable mapping exists.
    sys::mapping map;
    try {
      map = sys::map_shared(memfd.get(), info.file_size, sys::access::read_write, memfd_path);
    } catch (const out_of_memory_error& e) {
      if (info.backing != backing_kind::hugetlbfs) throw;
      throw hugepage_pool_error(e.err(), fmt::format("{}: mmap: the {} huge-page pool has too few free pages "
                                                     "(need {})", what, format_page_size(info.page_size),
                                                     info.file_size / info.page_size));
    }
    if (info.backing == backing_kind::thp) (void)sys::advise(map.bytes(), sys::advice::huge_pages);
    // As the store's create path: the policy before any page exists, then every page faulted
    // in by threads on the target nodes, so a short pool or full memory is an error now.
    detail::apply_policy(map.bytes(), info.where);
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    if (const int err = detail::populate_write(map.bytes(), info.page_size, info.where, threads)) {
      if (info.backing == backing_kind::hugetlbfs)
        throw hugepage_pool_error(err, fmt::format("{}: populate: huge-page pool exhausted", what));
      if (err == EFAULT || err == ENOMEM || err == ENOSPC)
        throw no_space_error(ENOSPC, fmt::format("{}: populate: no memory left for the copy", what));
      throw_os_error(err, fmt::format("{}: populate", what));
    }
    const std::filesystem::path from_path = source.path();
    const detail::read_job job{.fd = from, .file = &from_path, .file_offset = 0, .out = map.bytes().data(),
                               .len = info.file_size};
    detail::parallel_pread({&job, 1}, threads);
  }
  if (::fcntl(memfd.get(), F_ADD_SEALS, sealed_copy_seals()) != 0)
    sys::throw_errno(fmt::format("{}: fcntl(F_ADD_SEALS)", what));
  // Attached and verified like any reader would: a source that changed under the copy fails here.
  return attach_fd(name, memfd.get(), {.verify = true});
}

}  // namespace onecopy
