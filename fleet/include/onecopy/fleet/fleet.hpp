// SPDX-License-Identifier: Apache-2.0
// A fleet of reader processes: N copies of `onecopy __reader SOURCE` started with posix_spawn,
// released together, each getting the same bytes and checksumming them, then held alive while
// their memory is counted. Shared by `onecopy demo` and the multi-process benchmarks
// (bench/multiproc), which also run the alternatives to a segment through it: each reader
// reading its own copy from a file, receiving the bytes through a pipe (what pickling does),
// or mapping plain POSIX shared memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "onecopy/engine/memory_usage.hpp"

namespace onecopy::fleet {

/// Where each reader gets the bytes it checksums.
enum class reader_mode {
  segment,    ///< store::attach(name) from the reader's environment's store
  posix_shm,  ///< shm_open(name, O_RDONLY) + mmap: one shared copy, 4 KiB pages, no placement
  file,       ///< read(2) the whole file at name into private memory: one copy per reader
  pipe,       ///< receive size bytes on stdin into private memory: one copy per reader
};
/// "onecopy", "posix_shm", "file", "pipe".
[[nodiscard]] std::string_view to_string(reader_mode m) noexcept;

/// What a reader reads: the argument after `__reader`.
struct reader_source {
  reader_mode mode = reader_mode::segment;
  std::string name;        ///< segment name, POSIX shm name ("/x") or file path
  std::uint64_t size = 0;  ///< pipe: bytes each reader receives
  /// "NAME" (a segment: names never contain ':'), "posix-shm:/x", "file:/path", "pipe:BYTES".
  [[nodiscard]] std::string to_arg() const;
  /// The inverse of to_arg(). @throws usage_error for anything to_arg() cannot produce
  [[nodiscard]] static reader_source parse(std::string_view arg);
};

/// What one reader measured about itself, and what its memory was once all had finished.
struct reader_result {
  int pid = 0;
  double attach_seconds = 0;        ///< getting the bytes: attach, or open + read, or receive
  double checksum_seconds = 0;      ///< reading every byte once
  double first_result_seconds = 0;  ///< from the release to its checksum (CLOCK_MONOTONIC)
  std::uint64_t checksum = 0;
  process_memory memory;          ///< after every reader had its result
  process_memory memory_before;   ///< started and ready, before the release
};

/// All readers of one run.
struct fleet_result {
  std::vector<reader_result> readers;
  std::uint64_t total_memory = 0;         ///< Σ PSS + hugetlb share over the readers
  std::uint64_t total_memory_before = 0;  ///< the same before the release (processes alone)
  [[nodiscard]] bool checksums_agree() const noexcept;
};

/// Runs n readers of source with the onecopy executable exe (they use the caller's
/// environment, hence its store). For reader_mode::pipe, payload (source.size bytes) is written
/// to every reader at once after the release, one thread per reader.
/// @throws std::runtime_error naming the reader when one fails or reports garbage;
///         usage_error when a pipe source's payload is not source.size bytes
[[nodiscard]] fleet_result run_readers(const std::filesystem::path& exe, const reader_source& source, int n,
                                       std::span<const std::byte> payload = {});

/// Runs n readers of the segment name (see above).
[[nodiscard]] fleet_result run_readers(const std::filesystem::path& exe, const std::string& name, int n);

/// The reader's side: waits for the release byte on stdin, gets the bytes source names,
/// checksums them, prints one JSON line, waits for stdin to close. Returns the exit code.
int reader_main(const std::string& source);

/// This process's executable (/proc/self/exe).
[[nodiscard]] std::filesystem::path self_executable();

}  // namespace onecopy::fleet
