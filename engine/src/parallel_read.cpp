// SPDX-License-Identifier: Apache-2.0
#include "parallel_read.hpp"

#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "chunk_hasher.hpp"
#include "onecopy/engine/checksum.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"

namespace onecopy::detail {
namespace {

struct piece {
  std::size_t job;
  std::uint64_t at;  // from the job's start
  std::uint64_t len;
};

// Runs items 0 … count-1 on `threads` threads (this one among them), each taking the next item.
// make_worker() is called once per thread and returns what handles one item, so per-thread
// buffers live in it. The first exception stops the others from taking items and is rethrown.
template <class MakeWorker>
void run_items(std::uint64_t count, unsigned threads, const MakeWorker& make_worker) {
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::atomic_flag error_set;
  auto work = [&] {
    try {
      auto handle = make_worker();
      for (std::uint64_t i = next++; i < count && !failed; i = next++) handle(i);
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

// Adds up the bytes the threads have filled and tells a fill_progress, one call at a time.
// No thread waits for another's call (a slow listener, say a terminal, only thins the calls
// out) except the one that completes the total, so the last call always says done == total.
class progress_counter {
 public:
  progress_counter(const fill_progress* progress, std::uint64_t total)
      : progress_(progress != nullptr && *progress ? progress : nullptr), total_(total) {}
  void add(std::uint64_t bytes) {
    if (progress_ == nullptr) return;
    std::unique_lock lock(mutex_, std::defer_lock);
    if (done_.fetch_add(bytes) + bytes == total_) lock.lock();
    else if (!lock.try_lock()) return;
    const std::uint64_t done = done_.load();
    if (done <= told_) return;  // a later piece's call already counted this one
    told_ = done;
    (*progress_)(done, total_);
  }

 private:
  const fill_progress* progress_;
  std::uint64_t total_;
  std::atomic<std::uint64_t> done_{0};
  std::mutex mutex_;
  std::uint64_t told_ = 0;  // guarded by mutex_
};

[[noreturn]] void throw_short(const read_job& job, std::uint64_t at, std::uint64_t got) {
  throw format_error(fmt::format("{}: file ends at {} bytes, before the {} bytes needed from offset {} "
                                 "(did it shrink?)", job.file->string(), job.file_offset + at + got,
                                 job.len, job.file_offset));
}


// One piece of a job that writes into a file: the kernel copies page cache to page cache (as
// cp does); swapped bytes, or a kernel that cannot, go through a buffer.
void copy_piece(const read_job& job, const piece& p, std::vector<std::byte>& buffer) {
  auto in = static_cast<loff_t>(job.file_offset + p.at);
  auto out = static_cast<loff_t>(job.out_offset + p.at);
  std::uint64_t done = 0;
  if (job.swap_unit < 2) {
    while (done < p.len) {
      const ssize_t n = ::copy_file_range(job.fd, &in, job.out_fd, &out, p.len - done, 0);
      const int err = n < 0 ? errno : 0;
      if (err == EINTR) continue;
      if (err == EXDEV || err == EINVAL || err == ENOSYS || err == EOPNOTSUPP) break;
      if (err != 0)
        throw_os_error(err, fmt::format("copy_file_range({} → {}, {} bytes at {})", job.file->string(),
                                          job.out_file->string(), p.len - done, out));
      if (n == 0) throw_short(job, p.at, done);
      done += static_cast<std::uint64_t>(n);
    }
  }
  if (done == p.len) return;
  buffer.resize(static_cast<std::size_t>(read_piece));
  const std::uint64_t rest = p.len - done;
  const std::size_t got = sys::pread_full(job.fd, buffer.data(), rest, job.file_offset + p.at + done, *job.file);
  if (got != rest) throw_short(job, p.at, done + got);
  swap_bytes({buffer.data(), rest}, job.swap_unit);
  sys::pwrite_full(job.out_fd, buffer.data(), rest, job.out_offset + p.at + done, *job.out_file);
}

}  // namespace

void swap_bytes(std::span<std::byte> data, unsigned unit) noexcept {
  if (unit < 2) return;
  for (std::size_t i = 0; i + unit <= data.size(); i += unit) std::reverse(&data[i], &data[i] + unit);
}

void parallel_pread(std::span<const read_job> jobs, unsigned threads, const fill_progress* progress) {
  std::vector<piece> pieces;
  std::uint64_t total = 0;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    for (std::uint64_t at = 0; at < jobs[j].len; at += read_piece)
      pieces.push_back({j, at, std::min(read_piece, jobs[j].len - at)});
    total += jobs[j].len;
  }
  if (pieces.empty()) return;
  progress_counter counter(progress, total);
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, pieces.size()));

  run_items(pieces.size(), threads, [&] {
    // Per thread: a buffer, used only for swapped pieces written into a file.
    return [&, buffer = std::vector<std::byte>{}](std::uint64_t i) mutable {
      const piece& p = pieces[static_cast<std::size_t>(i)];
      const read_job& job = jobs[p.job];
      if (job.out_fd >= 0) {
        copy_piece(job, p, buffer);
      } else {
        // pre: pieces start at multiples of read_piece, so a swap unit never straddles two.
        const std::size_t got = sys::pread_full(job.fd, job.out + p.at, p.len, job.file_offset + p.at, *job.file);
        if (got != p.len) throw_short(job, p.at, got);
        swap_bytes({job.out + p.at, p.len}, job.swap_unit);
      }
      counter.add(p.len);
    };
  });
}

std::vector<std::uint64_t> copy_and_digest(std::span<const read_job> jobs, std::uint64_t region_offset,
                                           std::uint64_t region_size, unsigned threads,
                                           const fill_progress* progress) {
  // Small enough to stay in cache between the read, the hash and the write (the bytes cross
  // memory once each way, as with cp's in-kernel copy), and whole 2 MiB file pieces: tmpfs
  // zero-fills the part of a new (huge or large) folio that a write leaves out.
  constexpr std::uint64_t step = 2 * MiB;
  // Into memory there is no file piece to keep whole: smaller pieces, so the hash reads what
  // pread just wrote from the core's own cache (a 2 MiB piece overflows a 1–2 MiB L2).
  constexpr std::uint64_t memory_step = 256 * KiB;
  std::vector<const read_job*> order;
  for (const auto& j : jobs)
    if (j.len > 0) order.push_back(&j);  // an empty tensor would share its offset with the next
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->out_offset < b->out_offset; });
  const std::uint64_t chunks = (region_size + checksum_chunk_size - 1) / checksum_chunk_size;
  std::vector<std::uint64_t> digests(static_cast<std::size_t>(chunks));
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::clamp<std::uint64_t>(chunks, 1, threads));
  progress_counter counter(progress, region_size);

  run_items(chunks, threads, [&] {
    // Per thread: one step's buffer and a hasher.
    return [&, buffer = std::vector<std::byte>(static_cast<std::size_t>(step)),
            hasher = chunk_hasher{}](std::uint64_t c) mutable {
      const std::uint64_t begin = region_offset + c * checksum_chunk_size;
      const std::uint64_t end = std::min(begin + checksum_chunk_size, region_offset + region_size);
      hasher.reset();
      std::uint64_t at = begin;
      // The first job that ends after begin; jobs do not overlap.
      auto it = std::partition_point(order.begin(), order.end(),
                                     [&](auto* j) { return j->out_offset + j->len <= begin; });
      for (; it != order.end() && (*it)->out_offset < end; ++it) {
        const read_job& job = **it;
        const std::uint64_t from = std::max(begin, job.out_offset);
        const std::uint64_t to = std::min(end, job.out_offset + job.len);
        if (from > at) hasher.update_zeros(from - at);
        const std::uint64_t piece = job.out_fd < 0 ? memory_step : step;
        for (std::uint64_t p = from, len = 0; p < to; p += len) {
          len = std::min(to, (p / piece + 1) * piece) - p;  // up to the next multiple of piece
          const std::uint64_t in = p - job.out_offset;  // from the job's start
          // Into memory (out) when there is no file to write, else through the buffer.
          std::byte* to_memory = job.out_fd < 0 ? job.out + in : nullptr;
          const std::byte* bytes = job.in ? job.in + in : to_memory ? to_memory : buffer.data();
          if (job.in && to_memory) {
            std::memcpy(to_memory, job.in + in, static_cast<std::size_t>(len));
          } else if (!job.in) {
            std::byte* into = to_memory ? to_memory : buffer.data();
            const std::size_t got = sys::pread_full(job.fd, into, len, job.file_offset + in, *job.file);
            if (got != len) throw_short(job, in, got);
            // pre: in and len are multiples of the swap unit (pieces start at multiples of 64)
            swap_bytes({into, static_cast<std::size_t>(len)}, job.swap_unit);
          }
          hasher.update({bytes, static_cast<std::size_t>(len)});
          if (!to_memory) sys::pwrite_full(job.out_fd, bytes, len, p, *job.out_file);
        }
        at = to;
      }
      if (end > at) hasher.update_zeros(end - at);
      digests[static_cast<std::size_t>(c)] = hasher.digest();
      counter.add(end - begin);
    };
  });
  return digests;
}

}  // namespace onecopy::detail
