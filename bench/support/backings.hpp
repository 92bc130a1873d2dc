// SPDX-License-Identifier: Apache-2.0
// The store backings a benchmark run covers, and segments made on them. ONECOPY_BENCH_DIRS
// lists store directories (colon-separated), one per backing, e.g. a hugetlbfs mount's
// directory; `bench/run.sh` sets it up. Unset, the benchmarks use one private directory in
// /dev/shm (4 KiB pages), removed at exit.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "onecopy/engine/store.hpp"
#include "regions.hpp"

namespace onecopy::bench {

/// One store directory and the pages its files get.
struct backing_case {
  std::filesystem::path dir;
  page_kind kind = page_kind::base;
  std::string label;  ///< label(kind)
  store segments;     ///< store::at(dir)
};

/// The backings of this run (see the file comment).
/// @throws os_error/permission_error when a directory cannot be used as a store
[[nodiscard]] std::vector<backing_case> backings_from_environment();

/// Data bytes of a single-array segment whose file is exactly file_size bytes (header and
/// table included), so a "2 GiB segment" fills exactly 2 GiB of pages of any size.
[[nodiscard]] std::uint64_t data_size_for(std::uint64_t file_size);

/// Creates a segment whose file is file_size bytes on b, fills it with fill_pattern and
/// publishes it. Returns the creator's (read-only) mapping.
/// @throws what store::create and publish throw
[[nodiscard]] segment publish_segment(backing_case& b, const std::string& name, std::uint64_t file_size);

/// Writes a valid but sparse segment file of file_size bytes (header only; the data pages were
/// never written, so they cost no memory) into b's directory. tmpfs backings only: hugetlbfs
/// files cannot be written with write(2). For lazy-attach measurements at sizes the machine
/// cannot afford to populate.
/// @throws std::runtime_error naming the file
void write_sparse_segment(const backing_case& b, const std::string& name, std::uint64_t file_size);

/// The private directory made when ONECOPY_BENCH_DIRS is unset, removed by its destructor.
class default_store_dir {
 public:
  default_store_dir();
  ~default_store_dir();
  default_store_dir(const default_store_dir&) = delete;
  default_store_dir& operator=(const default_store_dir&) = delete;

 private:
  std::filesystem::path dir_;
};

}  // namespace onecopy::bench
