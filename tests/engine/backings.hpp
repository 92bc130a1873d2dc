// SPDX-License-Identifier: Apache-2.0
// The page backings the typed engine suites run against. Each sets up its own store directory
// (mounting a THP tmpfs or a hugetlbfs with a reserved pool as root) and undoes it afterwards;
// skip_reason() says why a backing cannot be had here.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "onecopy/engine/segment_info.hpp"
#include "onecopy/units.hpp"
#include "support/test_support.hpp"

namespace onecopy::test {

/// /dev/shm: plain tmpfs, base pages.
struct shm_backing {
  static constexpr const char* label = "shm";
  temp_dir dir{"/dev/shm"};
  [[nodiscard]] std::string skip_reason() const { return {}; }
  [[nodiscard]] std::filesystem::path store_dir() const { return dir.path() / "store"; }
  static constexpr std::uint64_t page_size = 4 * KiB;
  static constexpr backing_kind kind = backing_kind::shm;
};

/// A tmpfs mounted huge=within_size: THP.
struct thp_backing {
  static constexpr const char* label = "thp";
  scoped_mount mount{"tmpfs", "huge=within_size,size=1g,mode=0755"};
  [[nodiscard]] std::string skip_reason() const { return mount.ok() ? "" : mount.why(); }
  [[nodiscard]] std::filesystem::path store_dir() const { return mount.path() / "store"; }
  static constexpr std::uint64_t page_size = 2 * MiB;
  static constexpr backing_kind kind = backing_kind::thp;
};

/// hugetlbfs with 2 MiB pages and a pool of 128 pages reserved for the test.
struct hugetlb_2m_backing {
  static constexpr const char* label = "hugetlbfs_2M";  // no "-": gtest filters read it as "but not"
  scoped_hugepages pool{2 * MiB, 128};
  scoped_mount mount{"hugetlbfs", "pagesize=2M"};
  [[nodiscard]] std::string skip_reason() const {
    if (!mount.ok()) return mount.why();
    if (pool.added() < 64) return "could not reserve 64 free 2 MiB huge pages (memory fragmented?)";
    return {};
  }
  [[nodiscard]] std::filesystem::path store_dir() const { return mount.path() / "store"; }
  static constexpr std::uint64_t page_size = 2 * MiB;
  static constexpr backing_kind kind = backing_kind::hugetlbfs;
};

/// Every backing, for TYPED_TEST_SUITE(…, all_backings, backing_names).
using all_backings = ::testing::Types<shm_backing, thp_backing, hugetlb_2m_backing>;
/// Names typed tests after the backing's label ("shm", "thp", "hugetlbfs_2M").
class backing_names {
 public:
  template <class T>
  static std::string GetName(int) { return T::label; }
};

}  // namespace onecopy::test
