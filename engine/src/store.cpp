// SPDX-License-Identifier: Apache-2.0
// The store: name → file lookup over backings, creating drafts on the right backing with the
// right pages, open_or_create, list, remove and gc (design §2, §4, §5).
#include "onecopy/engine/store.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "backing.hpp"
#include "file_lock.hpp"
#include "internals.hpp"
#include "numa_memory.hpp"
#include "onecopy/engine/memory_usage.hpp"
#include "onecopy/engine/names.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"
#include "proc_maps.hpp"
#include "test_hooks.hpp"

namespace onecopy {
namespace {

using clock = std::chrono::steady_clock;
constexpr std::string_view temp_suffix = ".tmp";
constexpr std::string_view replica_marker = "@node";

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

// ".<name>.<pid>.tmp" → name; "" when file is not a temp file.
std::string temp_owner(std::string_view file) {
  if (file.size() < 2 + temp_suffix.size() || file.front() != '.' || !file.ends_with(temp_suffix)) return {};
  file.remove_prefix(1);
  file.remove_suffix(temp_suffix.size());
  const auto dot = file.rfind('.');
  if (dot == std::string_view::npos) return {};
  return std::string(file.substr(0, dot));
}

// "w@node1" → "w": the segment a (replica) file belongs to.
std::string_view base_of(std::string_view file) {
  return file.substr(0, std::min(file.size(), file.find(replica_marker)));
}

// "w@node1" → 1; -1 when file is not a replica file.
int replica_node_of(std::string_view file) {
  const auto at = file.find(replica_marker);
  if (at == std::string_view::npos) return -1;
  const auto digits = file.substr(at + replica_marker.size());
  int node = -1;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), node);
  return ec == std::errc() && end == digits.data() + digits.size() && !digits.empty() ? node : -1;
}

// Free bytes on the filesystem of dir (or of its parent while dir does not exist yet).
std::uint64_t free_space(const std::filesystem::path& dir) {
  struct ::statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0 && ::statvfs(dir.parent_path().c_str(), &fs) != 0) return UINT64_MAX;
  return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

// Host-wide free huge pages of one size, less those reserved by existing mappings.
std::uint64_t host_available_hugepages(std::uint64_t page) {
  const auto dir = fmt::format("/sys/kernel/mm/hugepages/hugepages-{}kB", page / KiB);
  const auto free = sys::read_number(dir + "/free_hugepages").value_or(0);
  const auto resv = sys::read_number(dir + "/resv_hugepages").value_or(0);
  return free > resv ? free - resv : 0;
}

// Files on hugetlbfs are whole huge pages; a THP tmpfs maps the huge-page-sized parts of a file of
// any size with huge pages and the tail with base pages, so it needs no rounding.
std::uint64_t file_granule(const backing_info& b) {
  return b.kind == backing_kind::hugetlbfs ? b.page_size : sysfs::base_page_size();
}

// Why a hugetlbfs backing cannot hold pages × page for where; "" when it can.
std::string hugepage_shortage(const backing_info& b, std::uint64_t pages, const placement& where) {
  if (where.policy == numa_policy::none) {
    const auto avail = host_available_hugepages(b.page_size);
    if (avail < pages)
      return fmt::format("the {} pool has {} free pages, need {} (grow it: onecopy setup "
                         "--hugepages …)", format_page_size(b.page_size), avail, pages);
    return {};
  }
  const std::uint64_t n = where.nodes.size();
  for (std::size_t i = 0; i < where.nodes.size(); ++i) {
    const int node = where.nodes[i];
    // bind fills the nodes in any order, interleave spreads evenly: check the even share.
    const std::uint64_t need = where.policy == numa_policy::interleave ? (pages + n - 1) / n : 0;
    const auto free = sysfs::free_hugepages(node, b.page_size);
    if (where.policy == numa_policy::interleave && free < need)
      return fmt::format("node {} has {} free {} pages, need {}", node, free, format_page_size(b.page_size), need);
  }
  if (where.policy == numa_policy::bind) {
    std::uint64_t free = 0;
    for (int node : where.nodes) free += sysfs::free_hugepages(node, b.page_size);
    if (free < pages)
      return fmt::format("node{} {} {} {} free {} pages, need {}", n > 1 ? "s" : "",
                         sys::format_cpulist(where.nodes), n > 1 ? "have" : "has", free,
                         format_page_size(b.page_size), pages);
  }
  return {};
}

}  // namespace

// ---- store::impl ------------------------------------------------------------------------------

std::filesystem::path store::impl::lock_path(std::string_view name) const {
  return lock_dir / (std::string(name) + ".lock");
}

void store::impl::ensure_lock_dir() const {
  // The lock directory sits inside a store directory (ONECOPY_DIR or /dev/shm/onecopy-$UID):
  // both must be private.
  detail::ensure_private_dir(lock_dir.parent_path());
  detail::ensure_private_dir(lock_dir);
}

std::optional<std::filesystem::path> store::impl::find(std::string_view file_name) const {
  for (const auto& b : backings) {
    const sys::unique_fd dir = detail::open_private_dir(b.dir);
    if (dir && sys::stat_at_if_exists(dir.get(), b.dir, file_name)) return b.dir / std::string(file_name);
  }
  return std::nullopt;
}

std::optional<std::pair<std::filesystem::path, sys::unique_fd>> store::impl::open_published(
    std::string_view file_name) const {
  for (const auto& b : backings) {
    // Out of descriptors, the error names the segment being attached, not just its directory.
    const sys::unique_fd dir =
        detail::open_private_dir(b.dir, "attach " + (b.dir / std::string(file_name)).string());
    if (!dir) continue;
    if (sys::unique_fd fd = sys::open_regular_at(dir.get(), b.dir, file_name, O_RDONLY))
      return std::pair{b.dir / std::string(file_name), std::move(fd)};
  }
  return std::nullopt;
}

namespace {
// The nodes a replica file can name: the kernel's possible nodes, read once per process
// (empty when there are too many to probe one by one: then the directory is listed instead).
const std::vector<int>& replica_nodes() {
  static const std::vector<int> nodes = [] {
    std::vector<int> out;
    try {
      if (auto text = sys::read_text_if_exists("/sys/devices/system/node/possible")) out = sys::parse_cpulist(*text);
    } catch (const std::exception&) {
      out.clear();
    }
    if (out.empty()) out.push_back(0);
    if (out.size() > 64) out.clear();
    return out;
  }();
  return nodes;
}
}  // namespace

std::vector<std::filesystem::path> store::impl::files_of(std::string_view name) const {
  // By name, not by listing the directory: a store of 10,000 segments would make every
  // create and open_or_create read 10,000 entries.
  std::vector<std::filesystem::path> out;
  const std::string prefix = std::string(name) + std::string(replica_marker);
  const auto& nodes = replica_nodes();
  for (const auto& b : backings) {
    const sys::unique_fd dir = detail::open_private_dir(b.dir);
    if (!dir) continue;
    if (nodes.empty()) {
      for (const auto& f : sys::list_directory(dir.get(), b.dir))
        if (f == name || f.starts_with(prefix)) out.push_back(b.dir / f);
      continue;
    }
    if (sys::stat_at_if_exists(dir.get(), b.dir, name)) out.push_back(b.dir / std::string(name));
    for (int node : nodes) {
      const std::string replica = prefix + std::to_string(node);
      if (sys::stat_at_if_exists(dir.get(), b.dir, replica)) out.push_back(b.dir / replica);
    }
  }
  return out;
}

// ---- construction -----------------------------------------------------------------------------

store::store(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
store::store(const store& other) : impl_(std::make_unique<impl>(*other.impl_)) {}
store& store::operator=(const store& other) {
  if (this != &other) impl_ = std::make_unique<impl>(*other.impl_);
  return *this;
}
store::store(store&&) noexcept = default;
store& store::operator=(store&&) noexcept = default;
store::~store() = default;

store store::from_environment() {
  if (const char* dir = std::getenv("ONECOPY_DIR"); dir != nullptr && *dir != '\0') return at(dir);
  const char* conf = std::getenv("ONECOPY_CONF");
  const std::filesystem::path file = conf != nullptr && *conf != '\0' ? conf : "/etc/onecopy.conf";
  if (auto config = detail::read_config(file)) return from_config(*config);
  return from_config(detail::discover_config());
}

store store::at(const std::filesystem::path& dir) {
  store_config config;
  config.roots = {dir};
  config.single_directory = true;
  return from_config(config);
}

store store::from_config(const store_config& config) {
  if (config.roots.empty()) throw usage_error("store configuration lists no store directories");
  auto p = std::make_unique<impl>();
  p->config = config;
  for (const auto& root : config.roots) {
    backing_info b = detail::probe_backing(root);
    b.dir = config.single_directory ? root : root / detail::user_dir_name();
    p->backings.push_back(b);
  }
  detail::sort_backings(p->backings);
  if (config.single_directory) p->lock_dir = config.roots.front() / ".locks";
  else if (!config.lock_root.empty()) p->lock_dir = config.lock_root / ".locks";
  else p->lock_dir = std::filesystem::path("/dev/shm") / detail::user_dir_name() / ".locks";
  return store(std::move(p));
}

const std::vector<backing_info>& store::backings() const noexcept { return impl_->backings; }

std::filesystem::path store::runtime_dir() const {
  impl_->ensure_lock_dir();
  return impl_->lock_dir;
}

// ---- create -----------------------------------------------------------------------------------

namespace {

// Makes the temp file on b, maps and places it, and populates it, except on tmpfs: there the fill
// writes the file through its descriptor (no zero-fill, no fault per page) and publish allocates
// what it left out (detail::allocate_rest); the mapping's shared policy places those pages too.
// Throws the named errors.
void create_on(draft::impl& d, const backing_info& b) {
  detail::ensure_private_dir(b.dir);
  const sys::unique_fd dir = detail::open_private_dir(b.dir);
  if (!dir) throw os_error(ENOENT, fmt::format("store directory {} vanished", b.dir.string()));
  const std::uint64_t file_size = round_up(d.info.data_offset + d.info.data_size, file_granule(b));
  const std::string temp_name = fmt::format(".{}.{}{}", d.name, ::getpid(), temp_suffix);
  d.final_path = b.dir / d.name;
  // O_EXCL: never an existing file, and never through a symlink.
  d.fd = sys::open_regular_at(dir.get(), b.dir, temp_name, O_RDWR | O_CREAT | O_EXCL, 0600);
  d.temp_path = b.dir / temp_name;
  if (::ftruncate(d.fd.get(), static_cast<off_t>(file_size)) != 0)
    sys::throw_errno(fmt::format("ftruncate({}, {})", d.temp_path.string(), format_bytes(file_size)));
  void* addr = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, d.fd.get(), 0);
  if (addr == MAP_FAILED) {
    const int err = errno;
    const std::string what = fmt::format("mmap({}, {})", d.temp_path.string(), format_bytes(file_size));
    if (b.kind == backing_kind::hugetlbfs && err == ENOMEM)
      throw hugepage_pool_error(err, fmt::format("{}: the {} huge-page pool has {} free pages, need {}",
                                                 what, format_page_size(b.page_size),
                                                 host_available_hugepages(b.page_size),
                                                 file_size / b.page_size));
    throw_os_error(err, what);
  }
  d.map = sys::mapping(addr, file_size);
  // THP: advise before the first fault (MAP_POPULATE/fallocate would lose THP under "advise").
  if (b.kind == backing_kind::thp) (void)::madvise(addr, file_size, MADV_HUGEPAGE);
  detail::apply_policy(d.map.bytes(), d.report.where);

  d.backing = b;
  d.info.file_size = file_size;
  d.report.backing = b.kind;
  d.report.file_size = file_size;
  d.report.path = d.final_path;
  d.report.page_size = b.page_size;  // what the backing gives; record_pages reads what it gave
  if (b.kind != backing_kind::hugetlbfs && d.opts.replicate_on.empty()) return;
  detail::populate(d);
}

}  // namespace

// Allocates, places and maps every page of d's file. Throws the named errors.
void detail::populate(draft::impl& d) {
  const backing_info& b = d.backing;
  const std::uint64_t file_size = d.info.file_size;
  detail::test_pause_point("before_populate");
  const auto start = clock::now();
  if (const int err = detail::populate_write(d.map.bytes(), b.page_size, d.report.where, d.opts.threads)) {
    const std::string what = fmt::format("populate {} ({})", d.temp_path.string(), format_bytes(file_size));
    if (b.kind == backing_kind::hugetlbfs) {
      const auto why = hugepage_shortage(b, file_size / b.page_size, d.report.where);
      throw hugepage_pool_error(err, fmt::format("{}: {}", what, why.empty() ? "huge-page pool exhausted" : why));
    }
    if (err == EFAULT || err == ENOSPC || err == ENOMEM) {
      // A full tmpfs makes MADV_POPULATE_WRITE fail with EFAULT: report it as what it is.
      throw no_space_error(ENOSPC, fmt::format("{}: no space left in {} ({} free of {} needed)", what,
                                               b.dir.string(), format_bytes(free_space(b.dir)),
                                               format_bytes(file_size)));
    }
    throw_os_error(err, what);
  }
  d.report.populate_seconds += std::chrono::duration<double>(clock::now() - start).count();
  d.populated = true;
  detail::test_pause_point("after_populate");

  record_pages(d, true);
}

// Records what the kernel really gave, not what we asked for: page size, huge bytes, the node of
// every page (move_pages). pre: every page of d.map is mapped, or !mapped and the host has one
// memory node and d is not on a THP tmpfs.
void detail::record_pages(draft::impl& d, bool mapped) {
  const backing_info& b = d.backing;
  const std::uint64_t file_size = d.info.file_size;
  void* addr = d.map.data();
  const auto pages = pages_of_mapping(addr);
  std::uint64_t obtained = pages.kernel_page_size ? pages.kernel_page_size : sysfs::base_page_size();
  std::uint64_t huge = b.kind == backing_kind::hugetlbfs ? file_size : pages.pmd_mapped;
  if (b.kind != backing_kind::hugetlbfs && pages.pmd_mapped > 0) obtained = 2 * MiB;
  d.report.page_size = obtained;
  d.report.huge_bytes = huge;
  const auto nodes = sysfs::memory_nodes();
  if (!mapped && nodes.size() == 1)  // one memory node: every page is on it
    d.report.histogram = {{nodes.front(), (file_size + obtained - 1) / obtained}};
  else
    d.report.histogram = detail::node_histogram(d.map.bytes(), obtained);
  d.info.page_size = obtained;
  d.info.huge_bytes = huge;
  d.info.backing = b.kind;
  d.info.histogram = d.report.histogram;
  if (d.info.histogram.size() > max_histogram_nodes) d.info.histogram.resize(max_histogram_nodes);
  if (b.kind == backing_kind::thp && huge == 0)
    d.report.warnings.push_back(fmt::format("{} is a huge= tmpfs but the kernel mapped no huge pages "
                                            "(ShmemPmdMapped 0): check shmem_enabled and free memory",
                                            b.dir.string()));
}

void detail::throw_no_space(const draft::impl& d, const std::string& what) {
  throw no_space_error(ENOSPC, fmt::format("{}: no space left in {} ({} free of {} needed)", what,
                                           d.backing.dir.string(), format_bytes(free_space(d.backing.dir)),
                                           format_bytes(d.info.file_size)));
}

void detail::allocate_rest(draft::impl& d) {
  std::sort(d.written.begin(), d.written.end());
  const auto start = clock::now();
  std::uint64_t at = 0;
  auto allocate = [&](std::uint64_t from, std::uint64_t to) {
    if (from >= to) return;
    if (::fallocate(d.fd.get(), 0, static_cast<off_t>(from), static_cast<off_t>(to - from)) != 0) {
      const int err = errno;
      const std::string what = fmt::format("fallocate({}, {} at {})", d.temp_path.string(),
                                           format_bytes(to - from), from);
      if (err == ENOSPC) throw_no_space(d, what);
      throw_os_error(err, what);
    }
  };
  for (const auto& [begin, end] : d.written) {
    allocate(at, begin);
    at = std::max(at, end);
  }
  allocate(at, d.info.file_size);
  d.report.populate_seconds += std::chrono::duration<double>(clock::now() - start).count();
}

namespace {

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
  const std::uint64_t needed = d.info.data_offset + d.info.data_size;
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
    const std::uint64_t file_size = round_up(needed, file_granule(b));
    std::string skip;
    // Automatic pages skip a backing that rounds a small segment up to mostly empty huge pages,
    // unless nothing else is left.
    if (opts.pages == page_size::automatic && !last && file_size - needed > needed / 8 + 4096)
      skip = fmt::format("would waste {} rounding {} up to whole pages", format_bytes(file_size - needed),
                         format_bytes(needed));
    else if (b.kind == backing_kind::hugetlbfs)
      skip = hugepage_shortage(b, file_size / b.page_size, d.report.where);
    else if (const auto space = free_space(b.dir); space < file_size)
      skip = fmt::format("no space: {} has {} free, need {}", b.dir.string(), format_bytes(space),
                         format_bytes(file_size));
    if (!skip.empty()) {
      reasons.push_back(fmt::format("{}: {}", describe(b), skip));
      (b.kind == backing_kind::hugetlbfs ? pool_short : other_failure) = true;
      continue;
    }
    try {
      create_on(d, b);
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
  if (opts.where.policy != numa_policy::none)
    throw usage_error(fmt::format("create segment '{}': replicate_on binds each replica to its node; "
                                  "it excludes a NUMA placement ({})", name, opts.where.to_string()));
  std::vector<std::unique_ptr<draft::impl>> drafts;
  for (int node : opts.replicate_on) {
    drafts.push_back(new_draft(fmt::format("{}{}{}", name, replica_marker, node), l, opts,
                               placement::bind_to({node})));
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
  for (const auto& b : s.backings) {
    if (!lock.inherited()) break;
    const sys::unique_fd dir = detail::open_private_dir(b.dir);
    if (!dir) continue;
    for (const auto& f : sys::list_directory(dir.get(), b.dir)) {
      const std::string owner = temp_owner(f);
      if (!owner.empty() && base_of(owner) == name) ::unlinkat(dir.get(), f.c_str(), 0);
    }
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
  validate_name(name);
  if (l.data_size() == 0)
    throw usage_error(fmt::format("create segment '{}': its size is 0 bytes; a segment holds at "
                                  "least one byte", name));
  impl_->ensure_lock_dir();
  auto lock = detail::file_lock::try_exclusive(impl_->lock_path(name));
  if (!lock)
    throw os_error(EBUSY, fmt::format("create segment '{}': another process is creating it (it "
                                      "holds {})", name, impl_->lock_path(name).string()));
  return create_locked(*impl_, name, l, opts, std::move(*lock));
}

// ---- attach -----------------------------------------------------------------------------------

segment store::attach(std::string_view name, const attach_options& opts) const {
  validate_name(name);
  if (auto found = impl_->open_published(name))
    return detail::attach_open(std::string(name), found->first, std::move(found->second), opts);
  // A replicated segment: one file per node, "name@nodeN". Take the caller's node's replica.
  const int node = opts.node >= 0 ? opts.node : sysfs::current_node();
  const std::string replica = fmt::format("{}{}{}", name, replica_marker, node);
  if (auto found = impl_->open_published(replica))
    return detail::attach_open(replica, found->first, std::move(found->second), opts);
  const auto replicas = impl_->files_of(name);
  if (!replicas.empty() && opts.node < 0) {
    // No replica here: the nearest one by the kernel's NUMA distances.
    const auto& best = *std::min_element(replicas.begin(), replicas.end(), [&](const auto& a, const auto& b) {
      return sysfs::node_distance(node, replica_node_of(a.filename().string())) <
             sysfs::node_distance(node, replica_node_of(b.filename().string()));
    });
    return detail::attach_file(best.filename().string(), best, opts);
  }
  std::string dirs;
  for (const auto& b : impl_->backings) dirs += (dirs.empty() ? "" : ", ") + b.dir.string();
  if (opts.node >= 0 && !replicas.empty())
    throw os_error(ENOENT, fmt::format("attach segment '{}': no replica on node {}", name, opts.node));
  throw os_error(ENOENT, fmt::format("attach segment '{}': not found in {}", name, dirs));
}

bool store::exists(std::string_view name) const {
  validate_name(name);
  return !impl_->files_of(name).empty();
}

std::filesystem::path store::path_of(std::string_view name) const {
  validate_name(name);
  if (auto path = impl_->find(name)) return *path;
  const auto files = impl_->files_of(name);
  if (files.empty()) throw os_error(ENOENT, fmt::format("segment '{}'", name));
  return files.front();
}

segment store::open_or_create(std::string_view name, const layout& l, const create_options& opts,
                              const std::function<void(draft&)>& fill, std::chrono::milliseconds wait) {
  validate_name(name);
  if (l.data_size() == 0)
    throw usage_error(fmt::format("create segment '{}': its size is 0 bytes; a segment holds at "
                                  "least one byte", name));
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

// ---- list, remove, gc -------------------------------------------------------------------------

namespace {
// Reads a published file's header without taking a lock or touching its data.
segment_info read_info(int dirfd, const std::filesystem::path& dir, const std::string& name) {
  const std::filesystem::path path = dir / name;
  sys::unique_fd fd = sys::open_regular_at(dirfd, dir, name, O_RDONLY);
  if (!fd) throw os_error(ENOENT, fmt::format("{}: removed while being read", path.string()));
  const auto st = sys::fstat(fd.get(), path);
  if (st.size < segment_header_size)
    throw format_error(fmt::format("{}: file size: {} bytes is smaller than the {}-byte header",
                                   path.string(), st.size, segment_header_size));
  void* addr = ::mmap(nullptr, st.size, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (addr == MAP_FAILED) sys::throw_errno(fmt::format("mmap({})", path.string()));
  sys::mapping map(addr, st.size);
  return parse_segment(map.bytes(), st.size, path.string());
}

// open_regular_at's refusals of a file onecopy did not make (see store_problem::foreign).
bool is_refusal(const os_error& e) {
  return e.err() == ELOOP || e.err() == EISDIR || e.err() == ENXIO || e.err() == EPERM;
}

// A store directory's fd and its entries; an empty list when the directory does not exist.
struct directory_listing {
  sys::unique_fd fd;
  std::vector<std::string> names;
};
directory_listing list_store_dir(const backing_info& b) {
  directory_listing out{detail::open_private_dir(b.dir), {}};
  if (out.fd) out.names = sys::list_directory(out.fd.get(), b.dir);
  return out;
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
  for (const auto& b : impl_->backings) {
    const auto dir = list_store_dir(b);
    for (const auto& f : dir.names) {
      if (f.empty() || f.front() == '.') continue;
      const auto path = b.dir / f;
      try {
        segment_entry entry{f, path, read_info(dir.fd.get(), b.dir, f), pids_of(path), {}, replica_node_of(f)};
        if (entry.replica_node >= 0) entry.replica_of = std::string(base_of(f));
        out.push_back(std::move(entry));
      } catch (const std::exception&) {
        // Unreadable or malformed files are reported by problems(), not listed.
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const segment_entry& a, const segment_entry& b) { return a.name < b.name; });
  return out;
}

std::vector<store_problem> store::problems() const {
  std::vector<store_problem> out;
  for (const auto& b : impl_->backings) {
    const auto dir = list_store_dir(b);
    for (const auto& f : dir.names) {
      if (f == ".locks") continue;
      const auto path = b.dir / f;
      if (!temp_owner(f).empty()) {
        const auto st = sys::stat_at_if_exists(dir.fd.get(), b.dir, f);
        if (st && !st->is_regular())
          out.push_back({path, fmt::format("{}: it is {}, not a regular file (remove it)", path.string(),
                                           sys::file_kind(st->mode)), true});
        else
          out.push_back({path, "temp file of a segment being created, or of a creator that died "
                               "('onecopy gc' removes it once its lock is free)"});
        continue;
      }
      try {
        (void)read_info(dir.fd.get(), b.dir, f);
      } catch (const os_error& err) {
        out.push_back({path, err.what(), is_refusal(err)});
      } catch (const std::exception& err) {
        out.push_back({path, err.what()});
      }
    }
  }
  // The lock directory holds lock files only.
  if (const sys::unique_fd locks = detail::open_private_dir(impl_->lock_dir)) {
    for (const auto& f : sys::list_directory(locks.get(), impl_->lock_dir)) {
      const auto st = sys::stat_at_if_exists(locks.get(), impl_->lock_dir, f);
      if (st && !st->is_regular())
        out.push_back({impl_->lock_dir / f, fmt::format("{}: it is {}, where only lock files belong "
                                                        "(remove it)", (impl_->lock_dir / f).string(),
                                                        sys::file_kind(st->mode)), true});
    }
  }
  return out;
}

void store::remove(std::string_view name) {
  validate_name(name);
  impl_->ensure_lock_dir();
  // Wait briefly for a creator to finish, so rm never races a publish.
  auto lock = detail::file_lock::exclusive(impl_->lock_path(name), clock::now() + std::chrono::seconds(10));
  const auto files = impl_->files_of(name);
  if (files.empty()) {
    std::string dirs;
    for (const auto& b : impl_->backings) dirs += (dirs.empty() ? "" : ", ") + b.dir.string();
    throw os_error(ENOENT, fmt::format("remove segment '{}': not found in {}", name, dirs));
  }
  for (const auto& f : files)
    if (::unlink(f.c_str()) != 0 && errno != ENOENT) sys::throw_errno(fmt::format("unlink({})", f.string()));
  // The name is free again: its lock file goes too (unlinked while held; see file_lock).
  lock.remove_file();
}

gc_report store::gc() {
  gc_report report;
  auto skip = [&](const std::filesystem::path& path, std::string why) {
    report.skipped.push_back({path, std::move(why)});
  };
  for (const auto& b : impl_->backings) {
    const auto dir = list_store_dir(b);
    for (const auto& f : dir.names) {
      const auto path = b.dir / f;
      if (const std::string owner(base_of(temp_owner(f))); !owner.empty()) {
        // The creator holds the name's lock while its temp file exists: a free lock means it died.
        if (!is_valid_name(owner)) continue;
        impl_->ensure_lock_dir();
        try {
          if (auto lock = detail::file_lock::try_exclusive(impl_->lock_path(owner))) {
            if (::unlinkat(dir.fd.get(), f.c_str(), 0) == 0) report.removed_temp_files.push_back(path);
          }
        } catch (const os_error& e) {
          skip(impl_->lock_path(owner), e.what());
        }
        continue;
      }
      if (f.empty() || f.front() == '.') continue;
      segment_info info;
      try {
        info = read_info(dir.fd.get(), b.dir, f);
      } catch (const os_error& e) {
        // A planted non-regular file (or one of another owner): report it, never touch it.
        if (e.err() != ENOENT) skip(path, e.what());
        continue;
      } catch (const std::exception&) {
        continue;  // malformed segments are problems(), not gc's to judge
      }
      if (!info.remove_when_unused) continue;
      const std::string base(base_of(f));
      if (!is_valid_name(base)) continue;
      impl_->ensure_lock_dir();
      std::optional<detail::file_lock> lock;
      try {
        lock = detail::file_lock::try_exclusive(impl_->lock_path(base));
      } catch (const os_error& e) {
        skip(impl_->lock_path(base), e.what());
        continue;
      }
      if (!lock) continue;  // being created or removed right now
      // Readers are found by their mappings (/proc/*/maps); attach keeps no fd or flock.
      if (pids_of(path).empty() && ::unlinkat(dir.fd.get(), f.c_str(), 0) == 0) {
        report.removed_unused_segments.push_back(f);
        if (impl_->files_of(base).empty()) lock->remove_file();
      }
    }
  }
  // Lock files of names with no segment and no creator.
  const sys::unique_fd locks = detail::open_private_dir(impl_->lock_dir);
  if (!locks) return report;
  for (const auto& f : sys::list_directory(locks.get(), impl_->lock_dir)) {
    const auto path = impl_->lock_dir / f;
    if (!f.ends_with(".lock")) continue;
    const std::string name = f.substr(0, f.size() - 5);
    if (!is_valid_name(name) || !impl_->files_of(name).empty()) continue;
    try {
      if (auto lock = detail::file_lock::try_exclusive(path)) {
        if (!impl_->files_of(name).empty()) continue;
        lock->remove_file();
        report.removed_lock_files.push_back(path);
      }
    } catch (const os_error& e) {
      skip(path, e.what());
    }
  }
  return report;
}

}  // namespace onecopy
