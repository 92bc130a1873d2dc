// SPDX-License-Identifier: Apache-2.0
// Creating a segment: the name's lock, the backing chosen (with a reason for every fallback), the
// temp file sized, mapped and placed on it, replicas one per node, and open_or_create (design §2,
// §4). The pages of a draft's file are allocated and recorded in draft_pages.cpp.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "backing.hpp"
#include "file_lock.hpp"
#include "internals.hpp"
#include "numa_memory.hpp"
#include "onecopy/engine/names.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/sys/memory.hpp"
#include "onecopy/units.hpp"
#include "store_files.hpp"

namespace onecopy {
namespace {

using clock = std::chrono::steady_clock;

// How large the pages of a backing are on the scale page_size requests use.
int level_of(const backing_info& b) {
  switch (b.kind) {
    case backing_kind::hugetlbfs: return b.page_size >= GiB ? 4 : 3;
    case backing_kind::thp: return 2;
    case backing_kind::shm:
    case backing_kind::directory: return 1;
  }
  return 1;
}
int level_of(page_size p) {
  switch (p) {
    case page_size::huge_1g: return 4;
    case page_size::huge_2m: return 3;
    case page_size::thp: return 2;
    case page_size::base: return 1;
    case page_size::automatic: return 5;
  }
  return 5;
}
std::string_view describe(page_size p) {
  switch (p) {
    case page_size::huge_1g: return "1 GiB hugetlbfs pages";
    case page_size::huge_2m: return "2 MiB hugetlbfs pages";
    case page_size::thp: return "THP on a huge= tmpfs";
    case page_size::base: return "base pages";
    case page_size::automatic: return "automatic pages";
  }
  return "";
}
std::string describe(const backing_info& b) {
  return fmt::format("{} {} ({})", format_page_size(b.page_size), to_string(b.kind), b.dir.string());
}

// Makes the temp file on b, maps and places it; populates it only for replicas. On tmpfs the fill
// writes the file through its descriptor (no zero-fill, no fault per page) and publish allocates
// what it left out (detail::allocate_rest); the mapping's shared policy places those pages too.
// On hugetlbfs mmap has reserved every page; they are faulted in by the first fill from files
// (each pread's copy, see fill_from_files), or populated when bytes(), write() or publish needs
// them. Throws the named errors.
void create_on(const store::impl& s, draft::impl& d, const backing_info& b) {
  detail::ensure_private_dir(b.dir);
  const sys::unique_fd dir = detail::open_private_dir(b.dir);
  if (!dir) throw os_error(ENOENT, fmt::format("store directory {} vanished", b.dir.string()));
  const std::string temp_name = detail::temp_file_name(d.name, ::getpid());
  d.final_path = b.dir / d.name;
  // O_EXCL: never an existing file, and never through a symlink.
  d.fd = sys::open_regular_at(dir.get(), b.dir, temp_name, O_RDWR | O_CREAT | O_EXCL, 0600);
  d.temp_path = b.dir / temp_name;
  // Where the header goes follows from the file's block size, by the rule readers apply.
  d.info.in_companion = header_in_companion(sys::fstat(d.fd.get(), d.temp_path).block_size);
  d.companion_dir = s.lock_dir;
  const std::uint64_t file_size = segment_file_size(d.info, detail::file_granule(b));
  sys::truncate(d.fd.get(), file_size, d.temp_path);
  try {
    d.map = sys::map_shared(d.fd.get(), file_size, sys::access::read_write, d.temp_path);
  } catch (const out_of_memory_error& e) {
    // hugetlbfs reserves every page of a shared mapping at mmap: ENOMEM there is a short pool.
    if (b.kind != backing_kind::hugetlbfs) throw;
    throw hugepage_pool_error(e.err(), fmt::format("mmap({}, {}): the {} huge-page pool has {} free pages, need {}",
                                                   d.temp_path.string(), format_bytes(file_size),
                                                   format_page_size(b.page_size),
                                                   detail::host_available_hugepages(b.page_size),
                                                   file_size / b.page_size));
  }
  // THP: advise before the first fault (MAP_POPULATE/fallocate would lose THP under "advise").
  if (b.kind == backing_kind::thp) (void)sys::advise(d.map.bytes(), sys::advice::huge_pages);
  detail::apply_policy(d.map.bytes(), d.report.where);

  d.backing = b;
  d.info.file_size = file_size;
  d.report.backing = b.kind;
  d.report.file_size = file_size;
  d.report.path = d.final_path;
  d.report.page_size = b.page_size;  // what the backing gives; record_pages reads what it gave
  if (d.opts.replicate_on.empty()) return;
  detail::populate(d);
}

// Discards a failed attempt so the next backing starts clean.
void discard_attempt(draft::impl& d) {
  d.map.reset();
  d.fd.reset();
  if (!d.temp_path.empty()) ::unlink(d.temp_path.c_str());
  d.temp_path.clear();
}

// A fresh draft for one file (name, or a replica "name@nodeN") with where as its placement.
std::unique_ptr<draft::impl> new_draft(std::string file_name, const layout& l, const create_options& opts,
                                       const placement& where) {
  auto d = std::make_unique<draft::impl>();
  d->name = std::move(file_name);
  d->lay = l;
  d->opts = opts;
  d->report.where = detail::resolve_placement(where);
  d->info = plan_segment_file(l, opts.metadata);
  d->info.where = d->report.where;
  d->info.asked = opts.asked.value_or(opts.replicate_on.empty() ? where.policy : numa_policy::replicate);
  d->info.remove_when_unused = opts.remove_when_unused;
  d->info.creator_pid = ::getpid();
  d->info.creator_uid = ::geteuid();
  d->info.creator_host = sys::host_name();
  return d;
}

// Tries the backings in order until one holds the draft's file; each fallback is a reason.
void place(const store::impl& s, draft::impl& d) {
  const std::string& name = d.name;
  const create_options& opts = d.opts;
  // The bytes a segment needs: its data and its header region (its file may hold fewer when
  // the header goes to a companion, and rounds up to whole pages otherwise).
  const std::uint64_t needed = round_up(d.info.data_size, 4096) + d.info.region_size;
  const int wanted = level_of(opts.pages);
  std::vector<std::string>& reasons = d.report.fallbacks;
  if (opts.pages != page_size::automatic &&
      std::none_of(s.backings.begin(), s.backings.end(), [&](const backing_info& b) { return level_of(b) == wanted; })) {
    reasons.push_back(fmt::format("{}: this store has no such backing ({}); 'onecopy setup' mounts "
                                  "hugetlbfs and a THP tmpfs", describe(opts.pages),
                                  s.config.single_directory ? "ONECOPY_DIR is one directory"
                                                            : "none configured or mounted"));
  }
  if (opts.pages == page_size::automatic &&
      std::none_of(s.backings.begin(), s.backings.end(), [](const backing_info& b) { return level_of(b) > 1; }))
    reasons.push_back(s.config.single_directory
                          ? fmt::format("huge pages: ONECOPY_DIR {} is not on hugetlbfs or a huge= tmpfs",
                                        s.backings.front().dir.string())
                          : std::string("huge pages: no hugetlbfs mount or huge= tmpfs is set up; "
                                        "'sudo onecopy setup' reserves a pool and mounts them"));
  bool pool_short = false;  // every failure so far was a huge-page shortage
  bool other_failure = false;
  bool first_candidate = true;
  for (std::size_t i = 0; i < s.backings.size(); ++i) {
    const backing_info& b = s.backings[i];
    if (level_of(b) > wanted) continue;
    if (opts.strict && !first_candidate) break;
    if (opts.strict && opts.pages != page_size::automatic && level_of(b) != wanted) break;
    first_candidate = false;
    const bool last = i + 1 == s.backings.size();
    segment_info sized = d.info;  // as create_on will size it on b
    sized.in_companion = b.kind == backing_kind::hugetlbfs && header_in_companion(b.page_size);
    const std::uint64_t file_size = segment_file_size(sized, detail::file_granule(b));
    std::string skip;
    // Automatic pages skip a backing that rounds a small segment up to mostly empty huge pages,
    // unless nothing else is left.
    if (opts.pages == page_size::automatic && !last && file_size > needed && file_size - needed > needed / 8 + 4096)
      skip = fmt::format("would waste {} rounding {} up to whole pages", format_bytes(file_size - needed),
                         format_bytes(needed));
    else if (b.kind == backing_kind::hugetlbfs)
      skip = detail::hugepage_shortage(b, file_size / b.page_size, d.report.where);
    else if (const auto space = detail::free_space(b.dir); space < file_size)
      skip = fmt::format("no space: {} has {} free, need {}", b.dir.string(), format_bytes(space),
                         format_bytes(file_size));
    if (!skip.empty()) {
      reasons.push_back(fmt::format("{}: {}", describe(b), skip));
      (b.kind == backing_kind::hugetlbfs ? pool_short : other_failure) = true;
      continue;
    }
    try {
      create_on(s, d, b);
      if (opts.strict && !reasons.empty())
        throw fallback_error(fmt::format("create segment '{}' with {} (strict): {}", name,
                                         describe(opts.pages), reasons.front()));
      return;
    } catch (const hugepage_pool_error& e) {
      reasons.push_back(fmt::format("{}: {}", describe(b), e.what()));
      pool_short = true;
      discard_attempt(d);
    } catch (const no_space_error& e) {
      reasons.push_back(fmt::format("{}: {}", describe(b), e.what()));
      other_failure = true;
      discard_attempt(d);
    } catch (...) {
      discard_attempt(d);
      throw;
    }
  }
  std::string why;
  for (const auto& r : reasons) why += "\n  " + r;
  if (opts.strict)
    throw fallback_error(fmt::format("create segment '{}' with {} (strict) failed:{}", name,
                                     describe(opts.pages), why));
  const std::string what = fmt::format("create segment '{}' ({}): no backing could hold it:{}", name,
                                       format_bytes(needed), why);
  if (pool_short && !other_failure) throw hugepage_pool_error(ENOMEM, what);
  throw no_space_error(ENOSPC, what);
}

// One replica per node, "name@nodeN", each bound to its node; the first holds the lock and
// the others. Files of the old segment that the new ones do not rename over are unlinked when
// the first publishes.
draft create_replicas(const store::impl& s, std::string_view name, const layout& l,
                      const create_options& opts, detail::file_lock lock,
                      std::vector<std::filesystem::path> existing) {
  std::vector<int> nodes = opts.replicate_on;
  std::sort(nodes.begin(), nodes.end());
  if (std::adjacent_find(nodes.begin(), nodes.end()) != nodes.end())
    throw usage_error(fmt::format("create segment '{}': replicate_on names node {} twice", name,
                                  *std::adjacent_find(nodes.begin(), nodes.end())));
  if (opts.where.policy != numa_policy::local)
    throw usage_error(fmt::format("create segment '{}': replicate_on binds each replica to its node; "
                                  "it excludes a NUMA placement ({})", name, opts.where.to_string()));
  std::vector<std::unique_ptr<draft::impl>> drafts;
  for (int node : opts.replicate_on) {
    drafts.push_back(new_draft(detail::replica_file_name(name, node), l, opts, placement::bind_to({node})));
  }
  // Placed while replicate_on is still set: replicas are populated at once (publish memcpys).
  for (auto& d : drafts) {
    place(s, *d);
    d->opts.replicate_on.clear();
  }
  auto first = std::move(drafts.front());
  for (std::size_t i = 1; i < drafts.size(); ++i) {
    first->report.replicas.push_back(drafts[i]->report);
    first->replicas.push_back(std::move(drafts[i]));
  }
  std::erase_if(existing, [&](const std::filesystem::path& old) {
    if (old == first->final_path) return true;
    return std::any_of(first->replicas.begin(), first->replicas.end(),
                       [&](const auto& r) { return r->final_path == old; });
  });
  first->replaced = std::move(existing);
  first->lock = std::move(lock);
  first->opts = opts;
  return draft(std::move(first));
}

// The checks create and open_or_create make before touching the store.
void check_creatable(std::string_view name, const layout& l) {
  validate_name(name);
  if (l.data_size() == 0)
    throw usage_error(fmt::format("create segment '{}': its size is 0 bytes; a segment holds at "
                                  "least one byte", name));
  if (l.data_size() > max_segment_data)
    throw usage_error(fmt::format("create segment '{}': its size, {} bytes, is more than a segment can hold "
                                  "({}: its file's size must fit a signed 64-bit offset)", name, l.data_size(),
                                  format_bytes(max_segment_data)));
}

draft create_locked(const store::impl& s, std::string_view name, const layout& l,
                    const create_options& opts, detail::file_lock lock) {
  const auto existing = s.files_of(name);
  if (!existing.empty() && !opts.replace) {
    lock.remove_file();
    // No hint here: each front end adds its own spelling (put --replace, put(replace=True)).
    throw os_error(EEXIST, fmt::format("create segment '{}': {} exists", name, existing.front().string()));
  }
  // With the name's lock held, any temp file of this name (or of its replicas) belongs to a
  // creator that died. Only a creator that dies leaves its lock file behind (publish, remove
  // and a dropped draft unlink it): look for its temp files only then.
  if (lock.inherited()) {
    detail::for_each_store_file(s.backings, [&](const detail::store_file& f) {
      const std::string owner = detail::temp_owner(f.name);
      if (!owner.empty() && detail::base_of(owner) == name) ::unlinkat(f.dirfd, f.name.c_str(), 0);
    });
  }
  if (!opts.replicate_on.empty()) return create_replicas(s, name, l, opts, std::move(lock), existing);

  auto d = new_draft(std::string(name), l, opts, opts.where);
  d->lock = std::move(lock);
  d->replaced = existing;
  place(s, *d);
  return draft(std::move(d));
}

}  // namespace

draft store::create(std::string_view name, const layout& l, const create_options& opts) {
  check_creatable(name, l);
  impl_->ensure_lock_dir();
  auto lock = detail::file_lock::try_exclusive(impl_->lock_path(name));
  if (!lock)
    throw os_error(EBUSY, fmt::format("create segment '{}': another process is creating it (it "
                                      "holds {})", name, impl_->lock_path(name).string()));
  return create_locked(*impl_, name, l, opts, std::move(*lock));
}

segment store::open_or_create(std::string_view name, const layout& l, const create_options& opts,
                              const std::function<void(draft&)>& fill, std::chrono::milliseconds wait) {
  check_creatable(name, l);
  impl_->ensure_lock_dir();
  const auto deadline = clock::now() + wait;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (!impl_->files_of(name).empty()) {
      try {
        return attach(name);
      } catch (const os_error& e) {
        if (e.err() != ENOENT) throw;  // removed between the look and the open: look again
      }
    }
    if (auto lock = detail::file_lock::try_exclusive(impl_->lock_path(name))) {
      if (!impl_->files_of(name).empty()) {  // published while we were looking
        lock->remove_file();
        continue;
      }
      draft d = create_locked(*impl_, name, l, opts, std::move(*lock));
      fill(d);
      return std::move(d).publish();
    }
    if (clock::now() >= deadline)
      throw timeout_error(fmt::format("open_or_create '{}': another process has been creating it "
                                      "for over {} ms (lock {})", name, wait.count(),
                                      impl_->lock_path(name).string()));
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

}  // namespace onecopy
