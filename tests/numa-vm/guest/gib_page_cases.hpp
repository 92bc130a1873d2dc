// SPDX-License-Identifier: Apache-2.0
// Segment format v2 on real 1 GiB pages: an array of exactly N GiB takes N pages (its header
// goes to a companion file in the store's lock directory). A long-running host rarely has a
// free 1 GiB page to give (CompanionTest.AnExactGiBArrayTakesOnePage skips there); this guest's
// kernel reserves them at boot (run-guest.sh --gib-pages).
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "harness.hpp"
#include "onecopy/engine/store.hpp"

namespace numa_vm {

/// hugetlbfs pagesize=1G, mounted by the guest's /init (see init.sh).
inline const std::filesystem::path gib_mount = "/mnt/huge-1G";

/// The store of the 1 GiB-page cases, the same in every process of a case: one backing on the
/// 1 GiB hugetlbfs and, with_shm, a second one on /dev/shm; the name locks and companion headers
/// on tmpfs (/tmp), since a hugetlbfs takes no write(2).
[[nodiscard]] onecopy::store gib_store(bool with_shm = false);

/// 1 GiB pages, strict: a create that cannot have them fails rather than falling back.
[[nodiscard]] onecopy::create_options gib_pages_strict();

/// Publish and attach an exact 1 GiB array, a creator killed between its companion's publish
/// and its data file's rename, and automatic pages. In run order.
[[nodiscard]] std::vector<guest_case> gib_page_cases();

}  // namespace numa_vm
