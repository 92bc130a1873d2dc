// SPDX-License-Identifier: Apache-2.0
#include "backings.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "onecopy/engine/layout.hpp"
#include "onecopy/engine/segment_info.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"

namespace onecopy::bench {

std::vector<backing_case> backings_from_environment() {
  const char* dirs = std::getenv("ONECOPY_BENCH_DIRS");
  std::vector<backing_case> out;
  if (dirs == nullptr || *dirs == '\0') return out;
  std::string text = dirs;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto colon = text.find(':', start);
    const std::string dir = text.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!dir.empty()) {
      store s = store::at(dir);
      const auto& b = s.backings().front();
      const page_kind k = kind_of(b.kind, b.page_size);
      out.push_back({dir, k, std::string(label(k)), std::move(s)});
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

std::uint64_t data_size_for(std::uint64_t file_size) {
  // Format v2: data, then the header region (one table entry, the fixed header: 8 KiB).
  const std::uint64_t overhead = plan_segment_file(layout::bytes(1), "").region_size;
  return file_size - overhead;
}

segment publish_segment(backing_case& b, const std::string& name, std::uint64_t file_size) {
  draft d = b.segments.create(name, layout::bytes(data_size_for(file_size)));
  fill_pattern(d.bytes());
  return std::move(d).publish();
}

void write_sparse_segment(const backing_case& b, const std::string& name, std::uint64_t file_size) {
  segment_info info = plan_segment_file(layout::bytes(data_size_for(file_size)), "");
  info.file_size = file_size;
  info.page_size = sysfs::base_page_size();
  info.backing = b.kind == page_kind::thp ? backing_kind::thp : backing_kind::shm;
  info.creator_pid = ::getpid();
  info.creator_uid = ::geteuid();
  info.creator_host = sys::host_name();
  std::vector<std::byte> header(info.region_size);
  write_segment_header(header, info);
  // The store makes its directory (0700) on first create; a sparse file may come first.
  if (::mkdir(b.dir.c_str(), 0700) != 0 && errno != EEXIST) sys::throw_errno(fmt::format("mkdir({})", b.dir.string()));
  const auto path = b.dir / name;
  sys::unique_fd fd = sys::open(path, O_WRONLY | O_CREAT | O_EXCL, 0444);
  sys::truncate(fd.get(), file_size, path);
  const auto at = static_cast<off_t>(file_size - header.size());  // the region ends the file
  if (::pwrite(fd.get(), header.data(), header.size(), at) != static_cast<ssize_t>(header.size()))
    sys::throw_errno(fmt::format("pwrite({}, header)", path.string()));
}

default_store_dir::default_store_dir() {
  const char* dirs = std::getenv("ONECOPY_BENCH_DIRS");
  if (dirs != nullptr && *dirs != '\0') return;
  char templ[] = "/dev/shm/onecopy-bench.XXXXXX";
  if (::mkdtemp(templ) == nullptr) sys::throw_errno("mkdtemp(/dev/shm/onecopy-bench.XXXXXX)");
  dir_ = templ;
  ::setenv("ONECOPY_BENCH_DIRS", (dir_ / "store").c_str(), 1);
}

default_store_dir::~default_store_dir() {
  if (dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace onecopy::bench
