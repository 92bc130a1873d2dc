// SPDX-License-Identifier: Apache-2.0
// Attaching published segments: open O_RDONLY, read and validate the header, mmap PROT_READ.
// The header is read with pread, not through the mapping: a lazy attach leaves every page of
// the mapping to the reader's first touch (a page fault costs microseconds here).
#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "backing.hpp"
#include "header_io.hpp"
#include "internals.hpp"
#include "numa_memory.hpp"
#include "onecopy/engine/checksum.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/sys/memory.hpp"

namespace onecopy {

segment::segment(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
segment::segment(segment&&) noexcept = default;
segment& segment::operator=(segment&&) noexcept = default;
segment::~segment() = default;

const std::string& segment::name() const noexcept { return impl_->name; }
const std::filesystem::path& segment::path() const noexcept { return *impl_->path; }
const segment_info& segment::info() const noexcept { return *impl_->info; }
int segment::fd() const noexcept { return impl_->fd.get(); }
std::pair<std::uint64_t, std::uint64_t> segment::file_identity() const noexcept {
  return {impl_->device, impl_->inode};
}

std::span<const std::byte> segment::bytes() const noexcept {
  return {impl_->map.data() + impl_->info->data_offset, impl_->info->data_size};
}

namespace {
tensor_view view_of(std::span<const std::byte> data, const tensor_entry& t) {
  return {t.name, t.type, t.shape, data.subspan(t.offset, t.size)};
}
}  // namespace

std::vector<tensor_view> segment::tensors() const {
  std::vector<tensor_view> out;
  out.reserve(impl_->info->tensors.size());
  for (const auto& t : impl_->info->tensors) out.push_back(view_of(bytes(), t));
  return out;
}

tensor_view segment::tensor(std::string_view name) const {
  const auto& tensors = impl_->info->tensors;
  std::call_once(impl_->index_once, [&] {
    impl_->index.reserve(tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) impl_->index.emplace(tensors[i].name, i);
  });
  if (const auto it = impl_->index.find(name); it != impl_->index.end()) return view_of(bytes(), tensors[it->second]);
  std::string some;
  for (std::size_t i = 0; i < impl_->info->tensors.size() && i < 5; ++i)
    some += (i ? ", " : "") + fmt::format("'{}'", impl_->info->tensors[i].name);
  if (impl_->info->tensors.size() > 5) some += fmt::format(", … ({} in all)", impl_->info->tensors.size());
  throw usage_error(fmt::format("segment '{}' has no tensor '{}' (it has {})", impl_->name, name,
                                impl_->info->bundle ? some : "one unnamed array"));
}

tensor_view segment::array() const {
  if (impl_->info->bundle)
    throw usage_error(fmt::format("segment '{}' is a bundle of {} tensors, not one array: use "
                                  "tensor(name)", impl_->name, impl_->info->tensors.size()));
  return view_of(bytes(), impl_->info->tensors.front());
}

std::uint64_t segment::compute_checksum(unsigned threads) const { return segment_checksum(bytes(), threads); }

bool segment::verify(unsigned threads) const { return compute_checksum(threads) == impl_->info->checksum; }

std::vector<node_pages> segment::node_histogram() const {
  // move_pages only sees pages this process has in its page tables: map them all first. For a
  // published file that maps the existing pages and allocates nothing. Count the whole file,
  // from its first page, as create does for info().histogram: the data region starts inside the
  // first huge page, so stepping through it by huge pages would miss the last one.
  (void)detail::populate_read(impl_->map.bytes());
  return detail::node_histogram(impl_->map.bytes(), impl_->info->page_size);
}

namespace detail {

segment attach_file(std::string name, const std::filesystem::path& path, const attach_options& opts,
                    const std::filesystem::path& companion_dir) {
  const sys::unique_fd dir = open_private_dir(path.parent_path());
  sys::unique_fd fd;
  if (dir) fd = sys::open_regular_at(dir.get(), path.parent_path(), path.filename().string(), O_RDONLY);
  if (!fd) throw os_error(ENOENT, fmt::format("attach segment '{}': {} was removed", name, path.string()));
  return attach_open(std::move(name), path, std::move(fd), opts, companion_dir);
}

namespace {

// The rest of an attach once the header is checked: map, then what opts ask.
segment map_checked(std::unique_ptr<segment::impl> p, const sys::file_status& st, const attach_options& opts) {
  const std::filesystem::path& path = *p->path;
  p->map = sys::map_shared(p->fd.get(), st.size, sys::access::read_only, path);
  p->device = st.device;
  p->inode = st.inode;
  // The mapping holds the file; who maps it shows in /proc/*/maps (stat, gc --when-unused).
  if (!opts.keep_fd) p->fd.reset();
  if (opts.populate) {
    if (const int err = populate_read(p->map.bytes()); err != 0)
      throw_os_error(err, fmt::format("madvise({}, MADV_POPULATE_READ)", path.string()));
  }
  if (opts.verify) {
    const auto sum = segment_checksum({p->map.data() + p->info->data_offset, p->info->data_size});
    if (sum != p->info->checksum)
      throw format_error(fmt::format("{}: checksum: data hashes to {:016x} but the header says "
                                     "{:016x} (corrupted?)", path.string(), sum, p->info->checksum));
  }
  p->fault_report = fault_registration(p->map.data(), p->map.size(), p->name, *p->info);
  return segment(std::move(p));
}

}  // namespace

segment attach_open(std::string name, const std::filesystem::path& path, sys::unique_fd fd, const attach_options& opts,
                    const std::filesystem::path& companion_dir, const sys::file_status* status) {
  auto p = std::make_unique<segment::impl>();
  p->name = std::move(name);
  p->path = std::make_shared<const std::filesystem::path>(path);
  p->fd = std::move(fd);
  const auto st = status != nullptr ? *status : sys::fstat(p->fd.get(), path);
  if (!st.is_regular()) throw format_error(fmt::format("{}: not a regular file", path.string()));
  // The header before the mapping: a file too short or malformed is named, never mapped.
  p->info = std::make_shared<const segment_info>(read_segment_header(p->fd.get(), st, path, companion_dir));
  return map_checked(std::move(p), st, opts);
}

segment attach_published(std::string name, const std::filesystem::path& dir, std::string_view file,
                         sys::unique_fd fd, const sys::file_status& st, const attach_options& opts,
                         const std::filesystem::path& companion_dir, header_cache* headers) {
  if (headers == nullptr)
    return attach_open(std::move(name), dir / std::string(file), std::move(fd), opts, companion_dir, &st);
  // open_published opened a regular file. The header before the mapping, as attach_open.
  auto checked = headers->get(fd.get(), st, dir, file, companion_dir);
  auto p = std::make_unique<segment::impl>();
  p->name = std::move(name);
  p->path = std::move(checked.path);
  p->info = std::move(checked.info);
  p->fd = std::move(fd);
  return map_checked(std::move(p), st, opts);
}

}  // namespace detail
}  // namespace onecopy
