// SPDX-License-Identifier: Apache-2.0
// A store's backing directories kept open for attach (see directory_cache.hpp).
#include "directory_cache.hpp"

#include <sys/stat.h>

#include "backing.hpp"

namespace onecopy::detail {

directory_cache::handle directory_cache::get(std::size_t index, const std::filesystem::path& dir,
                                             std::string_view file, bool reopen) {
  {
    std::lock_guard lock(mutex_);
    if (index < dirs_.size() && dirs_[index] && !reopen) return dirs_[index];
  }
  // Out of descriptors, the error names the segment being attached, not just its directory.
  std::uint32_t owner = 0;
  sys::unique_fd fd = open_private_dir(dir, "attach " + (dir / std::string(file)).string(), &owner);
  if (!fd) return nullptr;
  auto h = std::make_shared<const open_directory>(open_directory{std::move(fd), owner});
  std::lock_guard lock(mutex_);
  if (dirs_.size() <= index) dirs_.resize(index + 1);
  dirs_[index] = h;
  return h;
}

bool directory_cache::removed(const handle& h) {
  struct ::stat st {};
  return ::fstat(h->fd.get(), &st) != 0 || st.st_nlink == 0;
}

}  // namespace onecopy::detail
