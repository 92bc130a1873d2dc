// SPDX-License-Identifier: Apache-2.0
// Internal. Copying byte ranges of files into memory with parallel pread, or into another file
// (a tmpfs draft's temp file) with copy_file_range: the fill path of draft::read_from_file and
// of the tensor-file loader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "onecopy/engine/options.hpp"

namespace onecopy::detail {

/// One range to copy: len bytes of the open file fd from file_offset into out.
struct read_job {
  int fd = -1;
  const std::filesystem::path* file = nullptr;  ///< for messages
  std::uint64_t file_offset = 0;
  std::byte* out = nullptr;
  std::uint64_t len = 0;
  /// Reverse the bytes of every swap_unit-byte word after reading (big-endian input); 0 or 1 =
  /// no swap. pre: len % swap_unit == 0
  unsigned swap_unit = 0;
  /// When >= 0: write into this file at out_offset instead of into out (copy_file_range, or
  /// pread + pwrite through a buffer when bytes are swapped or the kernel cannot copy).
  int out_fd = -1;
  const std::filesystem::path* out_file = nullptr;  ///< for messages
  std::uint64_t out_offset = 0;
  /// copy_and_digest only: the source bytes are in memory here (fd and file_offset unused).
  const std::byte* in = nullptr;
};

/// Size of the pieces the jobs are cut into; threads take pieces in order, so one large job
/// and many small ones both spread over all threads.
inline constexpr std::uint64_t read_piece = std::uint64_t{8} << 20;

/// Runs every job, with threads threads (0 = one per CPU) taking read_piece-sized pieces,
/// telling progress (when given and not empty) as pieces land. The first error stops the
/// others and is rethrown.
/// @throws os_error "pread(<file>, …)", no_space_error "copy_file_range(<file> → <out_file>)"; format_error "<file>: file ends at …" when a file is
///         shorter than a job needs
void parallel_pread(std::span<const read_job> jobs, unsigned threads, const fill_progress* progress = nullptr);

/// Copies jobs into their file out_fd, or into memory at out when out_fd < 0 (pre: out_offset
/// is the job's position inside [region_offset, region_offset + region_size)), in parallel, one
/// checksum chunk of the region per work item, in 2 MiB pieces: each piece is read (pread, into
/// a small per-thread buffer when it goes to a file), hashed while it is still in cache, and
/// written (pwrite). Bytes of the region that no job
/// covers are hashed as zeros (pre: they are, or will be, zeros in the file). progress (when
/// given and not empty) hears of the chunks done, out of region_size bytes.
/// @returns the digest of every checksum chunk of the region, in order
/// @throws as parallel_pread (ENOSPC from pwrite: no_space_error)
[[nodiscard]] std::vector<std::uint64_t> copy_and_digest(std::span<const read_job> jobs, std::uint64_t region_offset,
                                                         std::uint64_t region_size, unsigned threads,
                                                         const fill_progress* progress = nullptr);

/// Reverses the bytes of each unit-byte word of data (unit 2, 4, 8 or 16).
void swap_bytes(std::span<std::byte> data, unsigned unit) noexcept;

}  // namespace onecopy::detail
