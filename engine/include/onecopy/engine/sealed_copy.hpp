// SPDX-License-Identifier: Apache-2.0
// A published segment copied into a sealed memfd: the form `onecopy serve` hands out when
// readers must survive whatever happens to the store file. A tmpfs or hugetlbfs file takes no
// seals, so its owner (or root) can truncate it and every reader's next access to a lost page
// is a SIGBUS; a memfd sealed F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL can
// never change size or content again, whoever holds it (ftruncate, write, a writable mapping:
// EPERM), so its readers never fault.
//
// Memory: the copy is a second copy while the store file exists. Remove the store file once
// the copy is made (`onecopy serve --seal NAME` does) and the memfd is the one copy; it lives
// as long as its holder keeps it open or a reader maps it.
#pragma once

#include <string_view>

#include "onecopy/engine/segment.hpp"

namespace onecopy {

/// The seals every sealed copy carries.
[[nodiscard]] int sealed_copy_seals() noexcept;

/// Copies source's whole file (header, tensor table, data) into a new memfd placed like the
/// source: hugetlb pages of the source's size when it is on hugetlbfs (MFD_HUGETLB with the size
/// flag), transparent huge pages advised when it is on a THP tmpfs, and its NUMA placement
/// applied (mbind) before any page exists; then populates it with threads pinned to the target
/// nodes, copies the bytes in parallel, drops the writable mapping, seals it
/// (sealed_copy_seals()), attaches it read-only and verifies the checksum of the copy.
/// @param name what the memfd is called (/proc/<pid>/fd shows "memfd:onecopy:<name>") and the
///        returned segment's name()
/// @returns the copy as a segment whose fd() is the sealed memfd (kept open) and whose path()
///          is "/proc/self/fd/<fd>": hand fresh read-only opens of that path to readers
/// @throws hugepage_pool_error / no_space_error when the pages cannot be had (naming the
///         size), os_error naming the call (memfd_create, ftruncate, mmap, fcntl(F_ADD_SEALS)),
///         format_error when the copy does not verify (the source changed under the copy)
[[nodiscard]] segment sealed_copy(const segment& source, std::string_view name);

}  // namespace onecopy
