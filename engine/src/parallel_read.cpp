// SPDX-License-Identifier: Apache-2.0
#include "parallel_read.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"

namespace onecopy::detail {
namespace {

struct piece {
  std::size_t job;
  std::uint64_t at;  // from the job's start
  std::uint64_t len;
};

}  // namespace

void swap_bytes(std::span<std::byte> data, unsigned unit) noexcept {
  if (unit < 2) return;
  for (std::size_t i = 0; i + unit <= data.size(); i += unit) std::reverse(&data[i], &data[i] + unit);
}

void parallel_pread(std::span<const read_job> jobs, unsigned threads) {
  std::vector<piece> pieces;
  for (std::size_t j = 0; j < jobs.size(); ++j)
    for (std::uint64_t at = 0; at < jobs[j].len; at += read_piece)
      pieces.push_back({j, at, std::min(read_piece, jobs[j].len - at)});
  if (pieces.empty()) return;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, pieces.size()));

  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::atomic_flag error_set;
  auto work = [&] {
    try {
      for (std::size_t i = next++; i < pieces.size() && !failed; i = next++) {
        const piece& p = pieces[i];
        const read_job& job = jobs[p.job];
        // pre: pieces start at multiples of read_piece, so a swap unit never straddles two.
        const std::size_t got = sys::pread_full(job.fd, job.out + p.at, p.len, job.file_offset + p.at, *job.file);
        if (got != p.len)
          throw format_error(fmt::format("{}: file ends at {} bytes, before the {} bytes needed "
                                         "from offset {} (did it shrink?)", job.file->string(),
                                         job.file_offset + p.at + got, job.len, job.file_offset));
        swap_bytes({job.out + p.at, p.len}, job.swap_unit);
      }
    } catch (...) {
      failed = true;
      if (!error_set.test_and_set()) error = std::current_exception();
    }
  };
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace onecopy::detail
