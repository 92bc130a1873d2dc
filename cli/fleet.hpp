// SPDX-License-Identifier: Apache-2.0
// A fleet of reader processes: N copies of `onecopy __reader NAME` started with posix_spawn,
// released together, each attaching one segment and checksumming it, then held alive while
// their memory is counted. Shared by `onecopy demo` and the multi-process benchmarks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "onecopy/engine/memory_usage.hpp"

namespace onecopy::cli {

/// What one reader measured about itself, and what its memory was once all had finished.
struct reader_result {
  int pid = 0;
  double attach_seconds = 0;        ///< open + validate + mmap, in the reader
  double checksum_seconds = 0;      ///< reading every byte once
  double first_result_seconds = 0;  ///< from the release to its checksum (CLOCK_MONOTONIC)
  std::uint64_t checksum = 0;
  process_memory memory;
};

/// All readers of one run.
struct fleet_result {
  std::vector<reader_result> readers;
  std::uint64_t total_memory = 0;  ///< Σ PSS + hugetlb share over the readers
  [[nodiscard]] bool checksums_agree() const noexcept;
};

/// Runs n readers of segment name with the onecopy executable exe (they use the caller's
/// environment, hence its store).
/// @throws std::runtime_error naming the reader when one fails or reports garbage
[[nodiscard]] fleet_result run_readers(const std::filesystem::path& exe, const std::string& name, int n);

/// The reader's side: waits for the release byte on stdin, attaches, checksums, prints one JSON
/// line, waits for stdin to close. Returns the exit code.
int reader_main(const std::string& name);

/// This process's executable (/proc/self/exe).
[[nodiscard]] std::filesystem::path self_executable();

}  // namespace onecopy::cli
