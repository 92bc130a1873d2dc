// SPDX-License-Identifier: Apache-2.0
// Filling and publishing a draft: checksum, header, read-only, 0444, atomic rename.
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "file_lock.hpp"
#include "internals.hpp"
#include "onecopy/engine/checksum.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"
#include "test_hooks.hpp"

namespace onecopy {

draft::impl::~impl() {
  if (!published && !temp_path.empty()) ::unlink(temp_path.c_str());
}

draft::draft(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
draft::draft(draft&&) noexcept = default;
draft& draft::operator=(draft&&) noexcept = default;
draft::~draft() = default;

const std::string& draft::name() const noexcept { return impl_->name; }
const layout& draft::layout() const noexcept { return impl_->lay; }
const create_report& draft::report() const noexcept { return impl_->report; }

namespace {
// The temp files of a draft and, for a replicated draft, of its replicas (written generically:
// this compiles whether or not draft::impl has replicas yet).
template <class Impl>
void add_unpublished(const Impl& d, std::vector<std::filesystem::path>& out) {
  if (!d.published && !d.temp_path.empty()) out.push_back(d.temp_path);
  if constexpr (requires { d.replicas; })
    for (const auto& r : d.replicas) add_unpublished(*r, out);
}
}  // namespace

std::vector<std::filesystem::path> draft::unpublished_files() const {
  std::vector<std::filesystem::path> out;
  add_unpublished(*impl_, out);
  return out;
}

std::span<std::byte> draft::bytes() noexcept {
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
  // Parallel pread in 8 MiB pieces: page-cache copies scale with threads until memory
  // bandwidth is reached.
  constexpr std::uint64_t piece = 8 * MiB;
  const std::uint64_t pieces = (len + piece - 1) / piece;
  unsigned threads = impl_->opts.threads ? impl_->opts.threads : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::uint64_t>(threads, std::max<std::uint64_t>(pieces, 1)));
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::atomic_flag error_set;
  std::byte* out = bytes().data() + data_offset;
  auto work = [&] {
    try {
      for (std::uint64_t i = next++; i < pieces && !failed; i = next++) {
        const std::uint64_t at = i * piece;
        const std::uint64_t n = std::min(piece, len - at);
        const std::size_t got = sys::pread_full(fd.get(), out + at, n, file_offset + at, file);
        if (got != n)
          throw format_error(fmt::format("{}: file ends at {} bytes, before the {} bytes needed "
                                         "from offset {}", file.string(), file_offset + at + got,
                                         len, file_offset));
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

segment draft::publish() && {
  impl& d = *impl_;
  detail::test_pause_point("before_publish");
  d.info.checksum = segment_checksum({d.map.data() + d.info.data_offset, d.info.data_size}, d.opts.threads);
  d.info.created_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  write_segment_header(d.map.bytes(), d.info);
  // Seal: the creator's own mapping becomes read-only too, and the file 0444.
  if (::mprotect(d.map.data(), d.map.size(), PROT_READ) != 0)
    sys::throw_errno(fmt::format("mprotect({}, PROT_READ)", d.temp_path.string()));
  if (::fchmod(d.fd.get(), 0444) != 0) sys::throw_errno(fmt::format("fchmod({}, 0444)", d.temp_path.string()));
  // Readers get an O_RDONLY descriptor of the same inode, never the writable one.
  sys::unique_fd ro = sys::open(fmt::format("/proc/self/fd/{}", d.fd.get()), O_RDONLY);
  detail::lock_shared(ro.get(), d.final_path);

  detail::test_pause_point("before_rename");
  const unsigned flags = d.opts.replace ? 0 : RENAME_NOREPLACE;
  if (::renameat2(AT_FDCWD, d.temp_path.c_str(), AT_FDCWD, d.final_path.c_str(), flags) != 0) {
    const int err = errno;
    if (err == EEXIST)
      throw os_error(err, fmt::format("publish segment '{}' as {} (another segment of that name "
                                      "appeared)", d.name, d.final_path.string()));
    throw_os_error(err, fmt::format("rename({}, {})", d.temp_path.string(), d.final_path.string()));
  }
  d.published = true;
  // A replaced segment on another backing would shadow or duplicate the new one: unlink it.
  for (const auto& old : d.replaced)
    if (old != d.final_path) ::unlink(old.c_str());
  d.lock.reset();  // release the name

  auto s = std::make_unique<segment::impl>();
  s->name = d.name;
  s->path = d.final_path;
  s->fd = std::move(ro);
  s->map = std::move(d.map);
  s->info = d.info;
  d.fd.reset();
  return segment(std::move(s));
}

}  // namespace onecopy
