// SPDX-License-Identifier: Apache-2.0
// Validated headers kept per file (see header_cache.hpp).
#include "header_cache.hpp"

#include <algorithm>

#include "header_io.hpp"

namespace onecopy::detail {

header_cache::checked header_cache::get(int fd, const sys::file_status& st, const std::filesystem::path& dir,
                                        std::string_view file, const std::filesystem::path& companion_dir) {
  const file_id id{st.device, st.inode};
  {
    std::lock_guard lock(mutex_);
    if (const auto it = entries_.find(id); it != entries_.end()) {
      entry& e = it->second;
      if (e.size == st.size && e.mtime_ns == st.mtime_ns && e.ctime_ns == st.ctime_ns &&
          e.file == file) {
        e.last_use = ++uses_;
        return e.header;
      }
      header_bytes_ -= e.header.info->region_size;
      entries_.erase(it);  // the file changed (or the inode number came back for a new file)
    }
  }
  // Read outside the lock: other threads attach other files meanwhile.
  auto path = std::make_shared<const std::filesystem::path>(dir / std::string(file));
  checked header{std::make_shared<const segment_info>(read_segment_header(fd, st, *path, companion_dir)),
                 std::move(path)};
  const std::uint64_t bytes = header.info->region_size;
  if (bytes > max_header_bytes) return header;
  std::lock_guard lock(mutex_);
  evict_for(bytes);
  const auto [it, added] =
      entries_.try_emplace(id, entry{st.size, st.mtime_ns, st.ctime_ns, std::string(file), header, ++uses_});
  if (added) header_bytes_ += bytes;
  return header;
}

void header_cache::evict_for(std::uint64_t bytes) {
  while (!entries_.empty() && (entries_.size() >= max_entries || header_bytes_ + bytes > max_header_bytes)) {
    const auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
      return a.second.last_use < b.second.last_use;
    });
    header_bytes_ -= oldest->second.header.info->region_size;
    entries_.erase(oldest);
  }
}

}  // namespace onecopy::detail
