// SPDX-License-Identifier: Apache-2.0
// Finding and reading a published file's header (v2 tail, v2 companion, v1 head), and
// publishing a companion header (see header_io.hpp).
#include "header_io.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <vector>

#include <fmt/format.h>

#include "backing.hpp"
#include "onecopy/error.hpp"
#include "onecopy/units.hpp"

namespace onecopy::detail {
namespace {

constexpr std::string_view companion_suffix = ".header";
// Larger header regions than this are refused before any allocation: a corrupted region_size
// must not make a reader allocate the file's size.
constexpr std::uint64_t max_region = 2 * GiB;
// One read covers a single array's region (header + table + short metadata: 8 KiB).
constexpr std::size_t first_read = 8192;

std::uint64_t load_u64(const std::byte* p) {
  std::uint64_t v = 0;
  for (std::size_t i = 8; i-- > 0;) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

// v1: header, table and metadata before data_offset (a bogus data_offset is parse_segment_v1's to name).
segment_info read_v1(int fd, const sys::file_status& st, const std::filesystem::path& path) {
  std::vector<std::byte> head(std::min<std::uint64_t>(st.size, first_read));
  head.resize(sys::pread_full(fd, head.data(), head.size(), 0, path));
  constexpr std::size_t data_offset_field = 24;
  if (head.size() >= data_offset_field + 8) {
    const std::uint64_t data_offset = load_u64(head.data() + data_offset_field);
    if (data_offset > head.size() && data_offset <= st.size && data_offset <= max_region) {
      const std::size_t have = head.size();
      head.resize(data_offset);
      head.resize(have + sys::pread_full(fd, head.data() + have, data_offset - have, have, path));
    }
  }
  return parse_segment_v1(head, st.size, path.string());
}

// Whether the file starts with a header's magic: v1, or an older or newer version that
// parse_segment_v1 then names ("format version 7 is not supported").
bool starts_with_magic(int fd, const std::filesystem::path& path) {
  std::array<std::byte, 12> start{};
  if (sys::pread_full(fd, start.data(), start.size(), 0, path) < start.size()) return false;
  return claim_of(start).magic;
}

segment_info read_companion(int fd, const sys::file_status& st, const std::filesystem::path& path,
                            const std::filesystem::path& dir) {
  const std::string name = companion_name(st.device, st.inode);
  const std::filesystem::path companion = dir / name;
  sys::unique_fd cfd;
  if (const sys::unique_fd dirfd = open_private_dir(dir)) cfd = sys::open_regular_at(dirfd.get(), dir, name, O_RDONLY);
  if (!cfd) {
    // A v1 file on 1 GiB pages has its header at its start and no companion.
    if (starts_with_magic(fd, path)) return read_v1(fd, st, path);
    throw format_error(fmt::format("{}: header: its companion {} is missing (a segment on {} pages keeps "
                                   "its header there; removed by hand?)", path.string(), companion.string(),
                                   format_page_size(st.block_size)));
  }
  const auto cst = sys::fstat(cfd.get(), companion);
  if (cst.size > max_region)
    throw format_error(fmt::format("{}: companion size: {} bytes (a header region is at most {})",
                                   companion.string(), cst.size, format_bytes(max_region)));
  std::vector<std::byte> region(cst.size);
  region.resize(sys::pread_full(cfd.get(), region.data(), region.size(), 0, companion));
  segment_info info = parse_segment(region, st.size, true, companion.string());
  if (info.data_device != st.device || info.data_inode != st.inode)
    throw format_error(fmt::format("{}: data_inode: it describes file {}:{}, not {} ({}:{})", companion.string(),
                                   info.data_device, info.data_inode, path.string(), st.device, st.inode));
  return info;
}

}  // namespace

std::string companion_name(std::uint64_t device, std::uint64_t inode) {
  return fmt::format("{}-{}{}", device, inode, companion_suffix);
}

bool is_companion_name(std::string_view file) noexcept {
  return file.ends_with(companion_suffix) && !file.starts_with('.');
}

segment_info read_segment_header(int fd, const sys::file_status& st, const std::filesystem::path& path,
                                 const std::filesystem::path& companion_dir) {
  if (st.size < segment_header_size)
    throw format_error(fmt::format("{}: file size: {} bytes is smaller than the {}-byte header (truncated?)",
                                   path.string(), st.size, segment_header_size));
  if (header_in_companion(st.block_size)) return read_companion(fd, st, path, companion_dir);
  // The file's last bytes, on the stack: one pread, no allocation for a single array's header.
  std::array<std::byte, first_read> tail;
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(st.size, tail.size()));
  const std::span<std::byte> got{tail.data() + tail.size() - n, n};
  if (sys::pread_full(fd, got.data(), n, st.size - n, path) < n)
    throw format_error(fmt::format("{}: file size: shrank while being read (truncated?)", path.string()));
  const region_claim claim = claim_of(got.last(segment_header_size));
  if (!claim.magic || claim.version == 1) {
    // No v2 header at the end: a v1 file, or not a segment at all.
    if (starts_with_magic(fd, path)) return read_v1(fd, st, path);
    if (!claim.magic)
      throw format_error(fmt::format("{}: magic: no onecopy segment header at its end (v2) or start (v1): "
                                     "not a segment, or truncated or extended after publish?", path.string()));
  }
  const std::string source = path.string();
  if (claim.region_size <= n && claim.region_size >= segment_header_size)
    return parse_segment(got.last(claim.region_size), st.size, false, source);
  if (claim.region_size < segment_header_size || claim.region_size > std::min(st.size, max_region))
    return parse_segment(got, st.size, false, source);  // names region_size (or what precedes it)
  std::vector<std::byte> region(claim.region_size);
  if (sys::pread_full(fd, region.data(), region.size(), st.size - region.size(), path) < region.size())
    throw format_error(fmt::format("{}: file size: shrank while being read (truncated?)", source));
  return parse_segment(region, st.size, false, source);
}

std::optional<companion_target> read_companion_target(int dirfd, const std::filesystem::path& dir,
                                                      const std::string& name) {
  const sys::unique_fd fd = sys::open_regular_at(dirfd, dir, name, O_RDONLY);
  if (!fd) return std::nullopt;
  const auto st = sys::fstat(fd.get(), dir / name);
  if (st.size < segment_header_size || st.size > max_region) return std::nullopt;
  std::vector<std::byte> region(st.size);
  region.resize(sys::pread_full(fd.get(), region.data(), region.size(), 0, dir / name));
  if (region.size() < segment_header_size) return std::nullopt;
  try {
    const segment_info info = parse_segment(region, claim_of(std::span(region).last(segment_header_size)).file_size,
                                            true, (dir / name).string());
    return companion_target{info.data_file, info.data_device, info.data_inode};
  } catch (const format_error&) {
    return std::nullopt;
  }
}

std::filesystem::path publish_companion(const std::filesystem::path& dir, const segment_info& info) {
  std::vector<std::byte> region(info.region_size);
  write_segment_header(region, info);
  const std::string name = companion_name(info.data_device, info.data_inode);
  // Named as the store's temp files are (".<file>.<pid>.tmp"): gc removes it once the
  // segment's lock is free, if its creator died before the rename.
  const std::string temp = fmt::format(".{}.{}.tmp", info.data_file, ::getpid());
  const sys::unique_fd dirfd = open_private_dir(dir);
  if (!dirfd) throw os_error(ENOENT, fmt::format("companion header directory {} is missing", dir.string()));
  const std::filesystem::path temp_path = dir / temp, final_path = dir / name;
  sys::unique_fd fd = sys::open_regular_at(dirfd.get(), dir, temp, O_RDWR | O_CREAT | O_EXCL, 0600);
  try {
    try {
      sys::pwrite_full(fd.get(), region.data(), region.size(), 0, temp_path);
    } catch (const os_error& e) {
      // hugetlbfs takes no write(2) (EINVAL) and holds no small file well.
      throw_os_error(e.err(), fmt::format("{} (a segment on 1 GiB pages keeps its header in the store's lock "
                                          "directory, which must be on tmpfs: lock_root)", e.what()));
    }
    if (::fchmod(fd.get(), 0444) != 0) sys::throw_errno(fmt::format("fchmod({}, 0444)", temp_path.string()));
    // Replacing is right: a companion of this identity can only be left by a file that is gone.
    if (::renameat(dirfd.get(), temp.c_str(), dirfd.get(), name.c_str()) != 0)
      sys::throw_errno(fmt::format("rename({}, {})", temp_path.string(), final_path.string()));
  } catch (...) {
    ::unlinkat(dirfd.get(), temp.c_str(), 0);
    throw;
  }
  return final_path;
}

}  // namespace onecopy::detail
