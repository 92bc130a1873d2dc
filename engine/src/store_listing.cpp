// SPDX-License-Identifier: Apache-2.0
// What is in the store and clearing it out: list, problems, remove and gc (design §5).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include <fmt/format.h>

#include "file_lock.hpp"
#include "header_io.hpp"
#include "internals.hpp"
#include "onecopy/engine/names.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/sys/memory.hpp"
#include "proc_maps.hpp"
#include "store_files.hpp"

namespace onecopy {
namespace {
// Reads a published file's header (or its companion) without a lock, a mapping or its data.
segment_info read_info(const store::impl& s, const detail::store_file& f) {
  const std::filesystem::path path = f.path();
  sys::unique_fd fd = sys::open_regular_at(f.dirfd, f.dir, f.name, O_RDONLY);
  if (!fd) throw os_error(ENOENT, fmt::format("{}: removed while being read", path.string()));
  return detail::read_segment_header(fd.get(), sys::fstat(fd.get(), path), path, s.lock_dir);
}

// The companion header of the published file that had identity st (if it had one) goes with it.
void unlink_companion(const store::impl& s, const std::optional<sys::file_status>& st) {
  if (st) ::unlink((s.lock_dir / detail::companion_name(st->device, st->inode)).c_str());
}

// A temp file (segment or companion) goes once its creator is dead: the creator holds the
// name's lock while its temp file exists, so a free lock means it died. Returns whether f is a
// temp file.
template <class Skip>
bool collect_dead_creators_temp(const store::impl& s, const detail::store_file& f, gc_report& report, Skip&& skip) {
  const std::string owner(detail::base_of(detail::temp_owner(f.name)));
  if (owner.empty()) return false;
  if (!is_valid_name(owner)) return true;
  s.ensure_lock_dir();
  try {
    if (auto lock = detail::file_lock::try_exclusive(s.lock_path(owner)))
      if (::unlinkat(f.dirfd, f.name.c_str(), 0) == 0) report.removed_temp_files.push_back(f.path());
  } catch (const os_error& e) {
    skip(s.lock_path(owner), e.what());
  }
  return true;
}

// In the lock directory: a companion header that no published file has any more (its data file
// was removed by hand or replaced), or the temp file of a companion whose creator died. gc
// removes them under the segment's lock, which a creator holds from before its companion exists
// until after its data file's rename. Returns whether f is one of those two kinds of file.
template <class Skip>
bool collect_header_file(const store::impl& s, const detail::store_file& f, gc_report& report, Skip&& skip) {
  if (collect_dead_creators_temp(s, f, report, skip)) return true;
  if (!detail::is_companion_name(f.name)) return false;
  const auto target = detail::read_companion_target(f.dirfd, f.dir, f.name);
  if (!target) return true;  // malformed: problems() names it; not gc's to judge
  const std::string owner(detail::base_of(target->data_file));
  if (!is_valid_name(owner)) return true;
  try {
    const auto lock = detail::file_lock::try_exclusive(s.lock_path(owner));
    if (!lock) return true;  // being created or removed right now
    bool live = false;
    for (const auto& path : s.files_of(owner))
      if (const auto st = sys::lstat_if_exists(path); st && st->device == target->device && st->inode == target->inode)
        live = true;
    if (!live && ::unlinkat(f.dirfd, f.name.c_str(), 0) == 0) report.removed_temp_files.push_back(f.path());
  } catch (const os_error& e) {
    skip(s.lock_path(owner), e.what());
  }
  return true;
}

// open_regular_at's refusals of a file onecopy did not make (see store_problem::foreign).
bool is_refusal(const os_error& e) {
  return e.err() == ELOOP || e.err() == EISDIR || e.err() == ENXIO || e.err() == EPERM;
}

std::vector<int> pids_of(const std::filesystem::path& path) {
  const auto st = sys::lstat_if_exists(path);
  if (!st) return {};
  return detail::pids_mapping(detail::file_id_of(st->device, st->inode));
}
}  // namespace

std::vector<int> store::pids_mapping(const std::filesystem::path& path) { return pids_of(path); }

std::vector<segment_entry> store::list() const {
  std::vector<segment_entry> out;
  detail::for_each_store_file(impl_->backings, [&](const detail::store_file& f) {
    if (f.name.empty() || f.name.front() == '.') return;
    const auto path = f.path();
    try {
      segment_entry entry{f.name, path, read_info(*impl_, f), pids_of(path), {},
                          detail::replica_node_of(f.name)};
      if (entry.replica_node >= 0) entry.replica_of = std::string(detail::base_of(f.name));
      out.push_back(std::move(entry));
    } catch (const std::exception&) {
      // Unreadable or malformed files are reported by problems(), not listed.
    }
  });
  std::sort(out.begin(), out.end(), [](const segment_entry& a, const segment_entry& b) { return a.name < b.name; });
  return out;
}

std::vector<store_problem> store::problems() const {
  std::vector<store_problem> out;
  detail::for_each_store_file(impl_->backings, [&](const detail::store_file& f) {
    if (f.name == ".locks") return;
    const auto path = f.path();
    if (!detail::temp_owner(f.name).empty()) {
      const auto st = sys::stat_at_if_exists(f.dirfd, f.dir, f.name);
      if (st && !st->is_regular())
        out.push_back({path, fmt::format("{}: it is {}, not a regular file (remove it)", path.string(),
                                         sys::file_kind(st->mode)), true});
      else
        out.push_back({path, "temp file of a segment being created, or of a creator that died "
                             "('onecopy gc' removes it once its lock is free)"});
      return;
    }
    try {
      (void)read_info(*impl_, f);
    } catch (const os_error& err) {
      out.push_back({path, err.what(), is_refusal(err)});
    } catch (const std::exception& err) {
      out.push_back({path, err.what()});
    }
  });
  // The lock directory is also the store's runtime directory (store::runtime_dir()), where
  // other tools keep their files, e.g. `onecopy serve` its socket and pid file: only the store's
  // own kinds of file, lock files and companion headers (and their temp files), are checked.
  detail::for_each_file_in(impl_->lock_dir, [&](const detail::store_file& f) {
    const bool ours = f.name.ends_with(".lock") || detail::is_companion_name(f.name) ||
                      !detail::temp_owner(f.name).empty();
    if (!ours) return;
    const auto st = sys::stat_at_if_exists(f.dirfd, f.dir, f.name);
    if (st && !st->is_regular())
      out.push_back({f.path(), fmt::format("{}: it is {}, where only lock files and headers belong (remove it)",
                                           f.path().string(), sys::file_kind(st->mode)), true});
    else if (st && detail::is_companion_name(f.name) && !detail::read_companion_target(f.dirfd, f.dir, f.name))
      out.push_back({f.path(), fmt::format("{}: not a well-formed companion header (its segment, if any, "
                                           "cannot be attached)", f.path().string())});
  });
  return out;
}

void store::remove(std::string_view name) {
  validate_name(name);
  impl_->ensure_lock_dir();
  // Wait briefly for a creator to finish, so rm never races a publish.
  auto lock = detail::file_lock::exclusive(impl_->lock_path(name),
                                           std::chrono::steady_clock::now() + std::chrono::seconds(10));
  const auto files = impl_->files_of(name);
  if (files.empty())
    throw os_error(ENOENT, fmt::format("remove segment '{}': not found in {}", name, impl_->directories()));
  for (const auto& f : files) {
    const auto st = sys::lstat_if_exists(f);
    if (::unlink(f.c_str()) != 0 && errno != ENOENT) sys::throw_errno(fmt::format("unlink({})", f.string()));
    unlink_companion(*impl_, st);
  }
  // The name is free again: its lock file goes too (unlinked while held; see file_lock).
  lock.remove_file();
}

gc_report store::gc() {
  gc_report report;
  auto skip = [&](const std::filesystem::path& path, std::string why) {
    report.skipped.push_back({path, std::move(why)});
  };
  detail::for_each_store_file(impl_->backings, [&](const detail::store_file& f) {
    const auto path = f.path();
    if (collect_dead_creators_temp(*impl_, f, report, skip)) return;
    if (f.name.empty() || f.name.front() == '.') return;
    segment_info info;
    try {
      info = read_info(*impl_, f);
    } catch (const os_error& e) {
      // A planted non-regular file (or one of another owner): report it, never touch it.
      if (e.err() != ENOENT) skip(path, e.what());
      return;
    } catch (const std::exception&) {
      return;  // malformed segments are problems(), not gc's to judge
    }
    if (!info.remove_when_unused) return;
    const std::string base(detail::base_of(f.name));
    if (!is_valid_name(base)) return;
    impl_->ensure_lock_dir();
    std::optional<detail::file_lock> lock;
    try {
      lock = detail::file_lock::try_exclusive(impl_->lock_path(base));
    } catch (const os_error& e) {
      skip(impl_->lock_path(base), e.what());
      return;
    }
    if (!lock) return;  // being created or removed right now
    // Readers are found by their mappings (/proc/*/maps); attach keeps no fd or flock.
    const auto st = sys::stat_at_if_exists(f.dirfd, f.dir, f.name);
    if (pids_of(path).empty() && ::unlinkat(f.dirfd, f.name.c_str(), 0) == 0) {
      unlink_companion(*impl_, st);
      report.removed_unused_segments.push_back(f.name);
      if (impl_->files_of(base).empty()) lock->remove_file();
    }
  });
  // Lock files of names with no segment and no creator; companion headers of no published file.
  detail::for_each_file_in(impl_->lock_dir, [&](const detail::store_file& f) {
    const auto path = f.path();
    if (collect_header_file(*impl_, f, report, skip)) return;
    if (!f.name.ends_with(".lock")) return;
    const std::string name = f.name.substr(0, f.name.size() - 5);
    if (!is_valid_name(name) || !impl_->files_of(name).empty()) return;
    try {
      if (auto lock = detail::file_lock::try_exclusive(path)) {
        if (!impl_->files_of(name).empty()) return;
        lock->remove_file();
        report.removed_lock_files.push_back(path);
      }
    } catch (const os_error& e) {
      skip(path, e.what());
    }
  });
  return report;
}

}  // namespace onecopy
