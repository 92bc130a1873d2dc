// SPDX-License-Identifier: Apache-2.0
// Filling and publishing a draft: checksum, header (at the file's end or in its companion),
// read-only, 0444, atomic rename.
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "chunk_hasher.hpp"
#include "file_lock.hpp"
#include "header_io.hpp"
#include "internals.hpp"
#include "store_files.hpp"
#include "numa_memory.hpp"
#include "onecopy/engine/checksum.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/sys/memory.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"
#include "parallel_read.hpp"
#include "test_hooks.hpp"

namespace onecopy {

draft::impl::~impl() {
  if (!published && !temp_path.empty()) ::unlink(temp_path.c_str());
  if (!published && !companion.empty()) ::unlink(companion.c_str());
  if (lock) lock->remove_file();  // a draft dropped unpublished leaves no lock file either
}

draft::draft(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
draft::draft(draft&&) noexcept = default;
draft& draft::operator=(draft&&) noexcept = default;
draft::~draft() = default;

const std::string& draft::name() const noexcept { return impl_->name; }
const layout& draft::layout() const noexcept { return impl_->lay; }
const create_report& draft::report() const noexcept { return impl_->report; }

namespace {
// The temp files of a draft and of its replicas.
void add_unpublished(const draft::impl& d, std::vector<std::filesystem::path>& out) {
  if (!d.published && !d.temp_path.empty()) out.push_back(d.temp_path);
  for (const auto& r : d.replicas) add_unpublished(*r, out);
}
}  // namespace

std::vector<std::filesystem::path> draft::unpublished_files() const {
  std::vector<std::filesystem::path> out;
  add_unpublished(*impl_, out);
  return out;
}

std::span<std::byte> draft::bytes() {
  if (!impl_->populated) detail::populate(*impl_);
  impl_->digests.clear();  // the caller may write anything through these
  impl_->touched = true;
  return {impl_->map.data() + impl_->info.data_offset, impl_->info.data_size};
}

std::span<std::byte> draft::tensor_bytes(std::string_view tensor_name) {
  const tensor_entry* t = impl_->lay.find(tensor_name);
  if (t == nullptr)
    throw usage_error(fmt::format("draft '{}' has no tensor '{}'", impl_->name, tensor_name));
  return bytes().subspan(t->offset, t->size);
}

void draft::read_from_file(const std::filesystem::path& file, std::uint64_t file_offset,
                           std::uint64_t data_offset, std::uint64_t len) {
  if (data_offset > impl_->info.data_size || len > impl_->info.data_size - data_offset)
    throw usage_error(fmt::format("read_from_file({}): {} bytes at data offset {} exceed the "
                                  "draft's {} bytes", file.string(), len, data_offset,
                                  impl_->info.data_size));
  sys::unique_fd fd = sys::open(file, O_RDONLY);
  // Parallel copies in 8 MiB pieces: page-cache copies scale with threads until memory
  // bandwidth is reached.
  detail::read_job job{fd.get(), &file, file_offset, nullptr, len, 0};
  job.out_offset = data_offset;
  detail::fill_from_files(*impl_, {&job, 1}, impl_->opts.threads);
}

void draft::write(std::uint64_t data_offset, std::span<const std::byte> from) {
  const piece p{data_offset, from};
  write(std::span<const piece>(&p, 1));
}

namespace {

// A later write (the first one's checksum no longer holds): copies one piece in parallel
// read_piece-sized parts, into the mapping of a populated draft, else with pwrite into its file.
void write_unhashed(draft::impl& d, const draft::piece& p) {
  constexpr std::uint64_t part = detail::read_piece;
  const std::span<const std::byte> from = p.bytes;
  const std::uint64_t parts = (from.size() + part - 1) / part;
  unsigned threads = d.opts.threads ? d.opts.threads : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::clamp<std::uint64_t>(parts, 1, threads));
  const std::uint64_t base = d.info.data_offset + p.data_offset;
  std::atomic<std::uint64_t> next{0};
  std::atomic<int> error{0};
  auto work = [&] {
    for (std::uint64_t i = next++; i < parts && error == 0; i = next++) {
      const std::uint64_t at = i * part, len = std::min<std::uint64_t>(part, from.size() - at);
      if (d.populated) {
        std::memcpy(d.map.data() + base + at, from.data() + at, len);
        continue;
      }
      try {
        sys::pwrite_full(d.fd.get(), from.data() + at, len, base + at, d.temp_path);
      } catch (const os_error& e) {
        error = e.err();  // named below, after the threads are joined
        return;
      }
    }
  };
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
  }
  const std::string what = fmt::format("pwrite({}, {} at {})", d.temp_path.string(), format_bytes(from.size()), base);
  if (error == ENOSPC) detail::throw_no_space(d, what);
  if (error != 0) throw_os_error(error, what);
  if (!d.populated) d.written.emplace_back(base, base + from.size());
}

}  // namespace

void draft::write(std::span<const piece> pieces) {
  impl& d = *impl_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;  // [begin, end) in the data region
  for (const auto& p : pieces) {
    if (p.data_offset > d.info.data_size || p.bytes.size() > d.info.data_size - p.data_offset)
      throw usage_error(fmt::format("write: {} bytes at data offset {} exceed draft '{}''s {} bytes",
                                    p.bytes.size(), p.data_offset, d.name, d.info.data_size));
    if (!p.bytes.empty()) ranges.emplace_back(p.data_offset, p.data_offset + p.bytes.size());
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      throw usage_error(fmt::format("write: the pieces at data offsets {} and {} of draft '{}' overlap",
                                    ranges[i - 1].first, ranges[i].first, d.name));
  // hugetlbfs cannot be written with pwrite: the memcpy below needs every page mapped first (a
  // page the pool cannot give would be SIGBUS there, and is a named error from populate).
  if (!d.populated && d.backing.kind == backing_kind::hugetlbfs) detail::populate(d);
  if (d.touched) {
    d.digests.clear();
    for (const auto& p : pieces) write_unhashed(d, p);
    return;
  }
  // The first write: a first fill from memory, checksummed while it is copied.
  std::vector<detail::read_job> jobs;
  for (const auto& p : pieces) {
    if (p.bytes.empty()) continue;
    detail::read_job job{-1, &d.temp_path, 0, nullptr, p.bytes.size(), 0};
    job.in = p.bytes.data();
    job.out_offset = p.data_offset;
    jobs.push_back(job);
  }
  detail::fill_from_files(d, jobs, d.opts.threads);
}

void detail::fill_from_files(draft::impl& d, std::span<read_job> jobs, unsigned threads) {
  const bool first = !d.touched;
  d.touched = true;
  // A tmpfs draft is written through its file: its pages come from the file's shared policy
  // (mbind on the mapping), as populate's would; record_pages reads their nodes at publish.
  // hugetlbfs cannot be written with write(2): pread into the mapping. Its pages do not exist
  // before the first fill: each pread's copy faults its 2 MiB page in, which the kernel zeroes
  // and the copy overwrites while it is still in cache (populating first, then copying, crosses
  // memory once more). A page the pool cannot give fails that pread with EFAULT (a copy in the
  // kernel gets no SIGBUS); populate then maps what no job wrote and records the pages.
  const bool into_memory = d.populated || d.backing.kind == backing_kind::hugetlbfs;
  const bool faults_pages_in = into_memory && !d.populated;
  for (auto& job : jobs) {
    job.out_offset += d.info.data_offset;
    if (into_memory) {
      job.out = d.map.data() + job.out_offset;
      job.out_fd = -1;
    } else {
      job.out_fd = d.fd.get();
      job.out_file = &d.temp_path;
    }
  }
  try {
    // The first fill checksums each piece while it is in cache, so publish need not read the
    // data again; later ones make publish read it back.
    if (first) d.digests = copy_and_digest(jobs, d.info.data_offset, d.info.data_size, threads, &d.opts.on_fill);
    else {
      d.digests.clear();
      parallel_pread(jobs, threads, &d.opts.on_fill);
    }
  } catch (const no_space_error& e) {
    throw_no_space(d, e.what());
  } catch (const os_error& e) {
    if (!faults_pages_in || e.err() != EFAULT) throw;
    throw_page_shortage(d, e.err(), fmt::format("fill {} ({}): {}", d.temp_path.string(),
                                                format_bytes(d.info.file_size), e.what()));
  }
  if (faults_pages_in) populate(d);
  if (!into_memory)
    for (const auto& job : jobs) d.written.emplace_back(job.out_offset, job.out_offset + job.len);
}

namespace {

// Writes the header region, at the file's end or as its companion (published now, before the
// data file's rename), and seals the pages and the file read-only.
void seal(draft::impl& d) {
  if (d.info.in_companion) {
    const auto st = sys::fstat(d.fd.get(), d.temp_path);
    d.info.data_device = st.device;
    d.info.data_inode = st.inode;
    d.info.data_file = d.final_path.filename().string();
    d.companion = detail::publish_companion(d.companion_dir, d.info);
  } else {
    write_segment_header(d.map.bytes().last(d.info.region_size), d.info);
  }
  sys::protect_read_only(d.map.bytes(), d.temp_path);
  if (::fchmod(d.fd.get(), 0444) != 0) sys::throw_errno(fmt::format("fchmod({}, 0444)", d.temp_path.string()));
}

// The atomic publish: the temp file takes its final name (never over another segment unless
// create_options::replace).
void rename_into_place(draft::impl& d) {
  try {
    if (d.opts.replace)
      sys::rename(d.temp_path, d.final_path);
    else
      sys::rename_noreplace(d.temp_path, d.final_path);
  } catch (const os_error& e) {
    if (e.err() != EEXIST) throw;
    throw os_error(EEXIST, fmt::format("publish segment '{}' as {} (another segment of that name "
                                       "appeared)", d.name, d.final_path.string()));
  }
  d.published = true;
  d.companion.clear();  // it is the published file's now
}

// Copies the first replica's data into the others, in parallel 64 MiB pieces. Their pages
// already sit on their nodes (populated under their binding), so the copying threads may run
// anywhere.
void copy_to_replicas(draft::impl& d) {
  constexpr std::uint64_t piece = 64 * MiB;
  const std::uint64_t size = d.info.data_size;
  const std::uint64_t per_replica = (size + piece - 1) / piece;
  const std::uint64_t pieces = per_replica * d.replicas.size();
  unsigned threads = d.opts.threads ? d.opts.threads : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::uint64_t>(threads, pieces));
  const std::byte* from = d.map.data() + d.info.data_offset;
  std::atomic<std::uint64_t> next{0};
  auto work = [&] {
    for (std::uint64_t i = next++; i < pieces; i = next++) {
      draft::impl& r = *d.replicas[i / per_replica];
      const std::uint64_t at = (i % per_replica) * piece;
      std::memcpy(r.map.data() + r.info.data_offset + at, from + at, std::min(piece, size - at));
    }
  };
  std::vector<std::jthread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
}

// The checksum of size zero bytes, without reading them: a --zeros segment's pages are only
// allocated (fallocate), and reading them back would cost as much again. One chunk's digest
// serves every whole chunk; the hasher feeds zeros from a small static block (a chunk-sized
// zeroed buffer cost 4 ms of page faults and memset on a 90 ms put of 1 GiB).
std::uint64_t zeros_checksum(std::uint64_t size) {
  const std::uint64_t whole = size / checksum_chunk_size, tail = size % checksum_chunk_size;
  detail::chunk_hasher hasher;
  std::uint64_t whole_digest = 0;
  if (whole > 0) {
    hasher.update_zeros(checksum_chunk_size);
    whole_digest = hasher.digest();
  }
  std::vector<std::uint64_t> digests(static_cast<std::size_t>(whole), whole_digest);
  if (tail) {
    hasher.reset();
    hasher.update_zeros(tail);
    digests.push_back(hasher.digest());
  }
  return combine_digests(digests);
}

}  // namespace

segment draft::publish() && {
  impl& d = *impl_;
  detail::test_pause_point("before_publish");
  if (!d.replicas.empty()) copy_to_replicas(d);
  if (!d.populated && d.backing.kind == backing_kind::hugetlbfs) detail::populate(d);  // --zeros
  if (d.populated) {
    if (!d.touched) d.info.checksum = zeros_checksum(d.info.data_size);  // --zeros: populate zeroed
    else if (!d.digests.empty()) d.info.checksum = combine_digests(d.digests);
    else d.info.checksum = segment_checksum({d.map.data() + d.info.data_offset, d.info.data_size}, d.opts.threads);
  } else {
    // A tmpfs draft: the fill wrote its file; allocate the rest, checksum through the mapping
    // (which maps the pages), then see where the pages are.
    const bool zeros = !d.touched;
    detail::allocate_rest(d);
    if (zeros) d.info.checksum = zeros_checksum(d.info.data_size);
    else if (!d.digests.empty()) d.info.checksum = combine_digests(d.digests);
    else d.info.checksum = segment_checksum({d.map.data() + d.info.data_offset, d.info.data_size}, d.opts.threads);
    // move_pages (node of each page) and ShmemPmdMapped (THP) only see mapped pages: map them,
    // which allocates nothing any more but zeroes what fallocate left unzeroed (a huge= tmpfs's
    // folios), hence the threads. With one memory node and base pages, nothing to ask.
    const bool map = d.backing.kind == backing_kind::thp || sysfs::memory_nodes().size() > 1;
    if (const int err = map ? detail::populate_read(d.map.bytes(), d.backing.page_size, d.report.where, d.opts.threads) : 0)
      throw_os_error(err, fmt::format("populate {} for reading", d.temp_path.string()));
    detail::record_pages(d, map);
  }
  d.info.created_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  // Replicas are byte-for-byte copies: same checksum and creation time.
  for (auto& r : d.replicas) {
    r->info.checksum = d.info.checksum;
    r->info.created_ns = d.info.created_ns;
    seal(*r);
  }
  seal(d);

  detail::test_pause_point("before_rename");
  // The files this publish replaces, while they still have their names: their companion
  // headers (if any) go once the new files are in place.
  std::vector<std::filesystem::path> retired = d.replaced;
  retired.push_back(d.final_path);
  for (const auto& r : d.replicas) retired.push_back(r->final_path);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> retired_ids;
  for (const auto& path : retired)
    if (const auto st = sys::lstat_if_exists(path)) retired_ids.emplace_back(st->device, st->inode);
  // Other nodes' replicas first: the first one's rename also retires the old segment's files.
  std::vector<std::filesystem::path> renamed;
  try {
    for (auto& r : d.replicas) {
      rename_into_place(*r);
      renamed.push_back(r->final_path);
    }
    rename_into_place(d);
  } catch (...) {
    if (!d.opts.replace)
      for (const auto& path : renamed) ::unlink(path.c_str());
    throw;  // the unpublished drafts' destructors remove their temp files and companions
  }
  // A replaced segment on another backing would shadow or duplicate the new one: unlink it.
  for (const auto& old : d.replaced)
    if (old != d.final_path) ::unlink(old.c_str());
  for (const auto& [device, inode] : retired_ids)
    ::unlink((d.companion_dir / detail::companion_name(device, inode)).c_str());
  // Release the name and remove its lock file, still holding it: a waiter that opened the old
  // lock file finds after its flock that the path no longer names that inode and retries, so
  // no two processes ever hold "the" lock on different inodes (file_lock::try_exclusive).
  if (d.lock) d.lock->remove_file();
  d.lock.reset();

  // Hand back the caller's node's replica when there is one.
  impl* chosen = &d;
  const std::string here = detail::replica_file_name(detail::base_of(d.name), sysfs::current_node());
  for (const auto& replica : d.replicas)
    if (replica->name == here) chosen = replica.get();
  auto s = std::make_unique<segment::impl>();
  s->name = chosen->name;
  s->path = std::make_shared<const std::filesystem::path>(chosen->final_path);
  // Like attach, the published segment keeps its mapping and no descriptor.
  const auto st = sys::fstat(chosen->fd.get(), chosen->final_path);
  s->device = st.device;
  s->inode = st.inode;
  s->map = std::move(chosen->map);
  s->info = std::make_shared<const segment_info>(chosen->info);
  s->fault_report = detail::fault_registration(s->map.data(), s->map.size(), s->name, *s->info);
  for (auto& r : d.replicas) r->fd.reset();
  d.fd.reset();
  return segment(std::move(s));
}

}  // namespace onecopy
