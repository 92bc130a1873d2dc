// SPDX-License-Identifier: Apache-2.0
// Each case makes its own store (store::at) on the mount that gives the pages it wants, checks
// the move_pages histograms the engine records against the per-node counters of the kernel, and
// removes what it made so the next case starts from the same free memory.
#include "placement_cases.hpp"

#include <fcntl.h>
#include <numaif.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "guest_os.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/sysfs.hpp"
#include "onecopy/units.hpp"
#include "placement_checks.hpp"

namespace numa_vm {
namespace {

using onecopy::backing_kind;
using onecopy::MiB;
using onecopy::page_size;
using onecopy::placement;

/// Where a case's segments live and what pages they get there.
struct backing_case {
  std::string tag;
  std::filesystem::path mount;
  page_size pages;
  std::uint64_t page;
  backing_kind kind;
};
const backing_case shm{"shm", shm_mount, page_size::base, 4096, backing_kind::shm};
const backing_case hugetlb{"hugetlb-2m", hugetlbfs_mount, page_size::huge_2m, huge_2m, backing_kind::hugetlbfs};
const backing_case thp{"thp", thp_mount, page_size::thp, huge_2m, backing_kind::thp};

// Big enough for an even split over 4 nodes to mean something, small enough for TCG page faults.
constexpr std::uint64_t segment_bytes = 32 * MiB;
// Pages a published file spans: header + table (8 KiB here) + data, the last page partial on a
// THP tmpfs (not rounded) and whole on hugetlbfs.
constexpr std::uint64_t file_pages(std::uint64_t bytes, std::uint64_t page) {
  return onecopy::round_up(bytes + 8192, page) / page;
}

std::vector<int> all_nodes(const check& ck) {
  std::vector<int> nodes;
  for (int n = 0; n < ck.config().nodes; ++n) nodes.push_back(n);
  return nodes;
}

/// Nodes that have CPUs (a reader can run there).
std::vector<int> nodes_with_cpus(const check& ck) {
  std::vector<int> nodes;
  for (int n = 0; n < ck.config().nodes; ++n)
    if (!onecopy::sysfs::node_cpus(n).empty()) nodes.push_back(n);
  return nodes;
}

/// The node with the most CPUs (the highest such node on a tie).
int widest_node(const check& ck) {
  int best = 0;
  for (int n = 0; n < ck.config().nodes; ++n)
    if (onecopy::sysfs::node_cpus(n).size() >= onecopy::sysfs::node_cpus(best).size()) best = n;
  return best;
}

/// where with interleave's "all nodes" spelled out, as the engine records it.
placement resolved(const check& ck, placement where) {
  if (where.nodes.empty()) where.nodes = all_nodes(ck);
  return where;
}

/// Each node's 2 MiB pool set for the life of a case, emptied afterwards.
class pool_guard {
 public:
  pool_guard(const check& ck, const std::vector<std::uint64_t>& pages) : nodes_(ck.config().nodes) {
    for (int n = 0; n < nodes_; ++n) set_huge_pool(n, pages.at(static_cast<std::size_t>(n)));
  }
  pool_guard(const pool_guard&) = delete;
  pool_guard& operator=(const pool_guard&) = delete;
  ~pool_guard() {
    for (int n = 0; n < nodes_; ++n) {
      try {
        set_huge_pool(n, 0);
      } catch (...) {  // a page still in use: the next case's pool_guard will say so
      }
    }
  }

 private:
  int nodes_;
};

/// Per-node counters the kernel keeps independently of move_pages.
struct node_counters {
  std::vector<std::uint64_t> free_huge;  // 2 MiB pages
  std::vector<std::uint64_t> shmem;      // bytes
};
node_counters snapshot(const check& ck) {
  node_counters c;
  for (int n = 0; n < ck.config().nodes; ++n) {
    c.free_huge.push_back(free_huge_pages(n));
    c.shmem.push_back(node_shmem_bytes(n));
  }
  return c;
}
std::string list_text(const std::vector<std::uint64_t>& v, std::uint64_t unit = 1) {
  std::string s;
  for (auto x : v) s += fmt::format("{}{}", s.empty() ? "" : " ", x / unit);
  return s;
}

/// Checks that the pages the histogram puts on each node are what that node's counters gained:
/// free 2 MiB pages for hugetlbfs, Shmem for tmpfs (within 1 MiB of noise).
void expect_counters(check& ck, const backing_case& b, const node_counters& before, const node_counters& after,
                     const std::vector<onecopy::node_pages>& h) {
  if (b.kind == backing_kind::hugetlbfs) {
    ck.note(fmt::format("free 2 MiB pages per node: {} -> {}", list_text(before.free_huge), list_text(after.free_huge)));
    for (std::size_t n = 0; n < before.free_huge.size(); ++n) {
      const auto used = before.free_huge[n] - after.free_huge[n];
      ck.expect(used == pages_on(h, static_cast<int>(n)),
                fmt::format("node {}: the pool lost {} pages, move_pages puts {} there", n, used,
                            pages_on(h, static_cast<int>(n))));
    }
    return;
  }
  ck.note(fmt::format("Shmem MiB per node: {} -> {}", list_text(before.shmem, MiB), list_text(after.shmem, MiB)));
  for (std::size_t n = 0; n < before.shmem.size(); ++n) {
    const auto gained = static_cast<std::int64_t>(after.shmem[n]) - static_cast<std::int64_t>(before.shmem[n]);
    const auto expected = static_cast<std::int64_t>(pages_on(h, static_cast<int>(n)) * b.page);
    ck.expect(std::llabs(gained - expected) <= static_cast<std::int64_t>(MiB),
              fmt::format("node {}: Shmem grew by {} bytes, move_pages puts {} bytes there", n, gained, expected));
  }
}

/// Pools with room for pages placed per where, and 2 spare pages on each node used
/// (hugetlbfs only; other backings need none). where's nodes must be resolved.
std::vector<std::uint64_t> pools_for(const check& ck, const backing_case& b, const placement& where,
                                     std::uint64_t pages) {
  std::vector<std::uint64_t> pools(static_cast<std::size_t>(ck.config().nodes), 0);
  if (b.kind != backing_kind::hugetlbfs) return pools;
  const std::uint64_t share = where.policy == onecopy::numa_policy::interleave
                                  ? (pages + where.nodes.size() - 1) / where.nodes.size()
                                  : pages;
  for (int n : where.nodes) pools.at(static_cast<std::size_t>(n)) = share + 2;
  return pools;
}

// ---- cases ------------------------------------------------------------------------------------

void topology_case(check& ck) {
  struct ::utsname u {};
  ::uname(&u);
  ck.note(fmt::format("kernel {}; numa_balancing {}; shmem_enabled {}", u.release,
                      onecopy::sys::read_text_if_exists("/proc/sys/kernel/numa_balancing").value_or("?\n").substr(0, 1),
                      onecopy::sysfs::thp_shmem_mode()));
  const auto nodes = onecopy::sysfs::memory_nodes();
  ck.expect(nodes == all_nodes(ck), fmt::format("memory nodes {}, expected 0-{}", onecopy::sys::format_cpulist(nodes),
                                                ck.config().nodes - 1));
  for (int n : nodes) {
    const auto cpus = onecopy::sysfs::node_cpus(n);
    auto row_text = onecopy::sys::read_text(fmt::format("/sys/devices/system/node/node{}/distance", n));
    while (!row_text.empty() && row_text.back() == '\n') row_text.pop_back();
    ck.note(fmt::format("node {}: CPUs {}, {} memory, distances {}", n,
                        cpus.empty() ? "none" : onecopy::sys::format_cpulist(cpus),
                        onecopy::format_bytes(onecopy::sysfs::node_meminfo(n).total), row_text));
    if (static_cast<std::size_t>(n) < ck.config().cpus.size())
      ck.expect(onecopy::sys::format_cpulist(cpus) == ck.config().cpus[static_cast<std::size_t>(n)],
                fmt::format("node {} has CPUs '{}', QEMU was given '{}'", n, onecopy::sys::format_cpulist(cpus),
                            ck.config().cpus[static_cast<std::size_t>(n)]));
    const auto& want = ck.config().distances;
    if (static_cast<std::size_t>(n) < want.size()) {
      std::string want_text;
      for (int d : want[static_cast<std::size_t>(n)]) want_text += fmt::format("{}{}", want_text.empty() ? "" : " ", d);
      ck.expect(row_text == want_text, fmt::format("node {} distances '{}', QEMU was given '{}'", n, row_text, want_text));
    }
  }
}

/// One segment with one policy on one backing: histograms, counters, and a second process view.
void placement_case(check& ck, const backing_case& b, const placement& where, std::uint64_t bytes,
                    const std::string& dir_name) {
  const auto expect_where = resolved(ck, where);
  pool_guard pools(ck, pools_for(ck, b, expect_where, file_pages(bytes, b.page)));
  const auto dir = fresh_dir(b.mount / dir_name);
  auto s = onecopy::store::at(dir);
  onecopy::create_options opts;
  opts.pages = b.pages;
  opts.strict = true;
  opts.where = where;
  const auto before = snapshot(ck);
  {
    const auto m = make_segment(s, "w", bytes, opts);
    expect_placed(ck, m, b.kind, b.page, expect_where);
    expect_counters(ck, b, before, snapshot(ck), m.seg.info().histogram);

    // A plain attach has mapped only the header: node_histogram() must still see every page.
    const auto h = s.attach("w").node_histogram();
    ck.note(fmt::format("{:<34} {}", "node_histogram() (new attach)", histogram_text(h)));
    ck.expect(h == m.seg.info().histogram, "node_histogram() of a new attach differs from info().histogram");
  }
  s.remove("w");
  std::filesystem::remove_all(dir);
}

void bind_each_node_hugetlb_case(check& ck) {
  for (int n = 0; n < ck.config().nodes; ++n) {
    ck.note(fmt::format("-- bind:{}", n));
    placement_case(ck, hugetlb, placement::bind_to({n}), 16 * MiB, fmt::format("nvm-bind{}", n));
  }
}

/// The segment is made by another process that exits; then this process and readers pinned to
/// every other node map it: same frames, pages where they were put, no new memory used.
void reader_case(check& ck, const backing_case& b) {
  const placement where = placement::bind_to({1});
  pool_guard pools(ck, pools_for(ck, b, where, file_pages(segment_bytes, b.page)));
  const auto dir = fresh_dir(b.mount / ("nvm-reader-" + b.tag));
  ck.require(spawn_self({"create", dir.string(), "w", std::string(onecopy::to_string(b.pages)), where.to_string(),
                         std::to_string(segment_bytes)}) == 0,
             "the creator process failed");
  auto s = onecopy::store::at(dir);
  {
    onecopy::attach_options populate;
    populate.populate = true;
    const auto seg = s.attach("w", populate);
    const auto& recorded = seg.info().histogram;
    expect_spread(ck, "info().histogram (creator, gone)", recorded, where, (seg.info().file_size + b.page - 1) / b.page);
    const auto live = seg.node_histogram();
    ck.note(fmt::format("{:<34} {}", "node_histogram() (this process)", histogram_text(live)));
    ck.expect(live == recorded, "pages moved after the creator exited");
    const auto frames = frames_of(seg.bytes());
    const std::filesystem::path frames_file = "/tmp/nvm-frames";
    write_frames(frames_file, frames);
    for (int reader : nodes_with_cpus(ck)) {
      if (reader == 1) continue;
      const auto before = snapshot(ck);
      const int rc = spawn_self({"read", dir.string(), "w", std::to_string(reader), frames_file.string()});
      ck.expect(rc == 0, fmt::format("the reader on node {} failed (exit {})", reader, rc));
      const auto after = snapshot(ck);
      // Nothing new anywhere: the reader mapped the existing pages.
      expect_counters(ck, b, before, after, {});
    }
    ck.expect(seg.node_histogram() == recorded, "pages moved while readers on other nodes read them");
  }
  s.remove("w");
  std::filesystem::remove_all(dir);
}

/// Automatic NUMA balancing, made to scan every 100 ms (by default it waits 1 s, then scans a
/// task every second at most), so that a 3 s read sees several scans. Sets its debugfs knobs;
/// "" when done, else why not.
std::string speed_up_numa_balancing() {
  const std::filesystem::path knobs = "/sys/kernel/debug/sched/numa_balancing";
  try {
    onecopy::sys::write_text(knobs / "scan_delay_ms", "100");
    onecopy::sys::write_text(knobs / "scan_period_min_ms", "100");
    return {};
  } catch (const std::exception& e) {
    return e.what();
  }
}

/// No policy: the creator, pinned to node 0, places every page there by first touch. A reader on
/// the farthest node then reads for 3 s while NUMA balancing scans it every 100 ms: the pages
/// must stay where they are (read-only file mappings are not its business), while the reader's
/// own anonymous control buffer, first touched on node 0, shows whether balancing was at work.
void numa_balancing_case(check& ck) {
  if (const auto why = speed_up_numa_balancing(); !why.empty()) ck.note("NUMA balancing runs at its default pace: " + why);
  const int far = [&] {
    int best = 1;
    for (int n : nodes_with_cpus(ck))
      if (!ck.config().distances.empty() && ck.config().distances[0][static_cast<std::size_t>(n)] >
                                                ck.config().distances[0][static_cast<std::size_t>(best)])
        best = n;
    return best;
  }();
  const auto balancing = onecopy::sys::read_number("/proc/sys/kernel/numa_balancing").value_or(0);
  const auto dir = fresh_dir(shm.mount / "nvm-balancing");
  ck.require(spawn_self({"create", dir.string(), "w", "4k", "none", std::to_string(segment_bytes), "0"}) == 0,
             "the creator process failed");
  auto s = onecopy::store::at(dir);
  {
    onecopy::attach_options populate;
    populate.populate = true;
    const auto seg = s.attach("w", populate);
    expect_spread(ck, "info().histogram (first touch)", seg.info().histogram, placement::bind_to({0}),
                  (seg.info().file_size + shm.page - 1) / shm.page);
    const std::filesystem::path frames_file = "/tmp/nvm-frames";
    write_frames(frames_file, frames_of(seg.bytes()));
    auto vmstat = [](const char* key) {
      const auto text = onecopy::sys::read_text("/proc/vmstat");
      const auto at = text.find(std::string(key) + " ");
      return at == std::string::npos ? 0ull : std::stoull(text.substr(at + std::string(key).size() + 1));
    };
    const auto scanned = vmstat("numa_pte_updates");
    const auto hints = vmstat("numa_hint_faults");
    const auto migrated = vmstat("numa_pages_migrated");
    const int rc = spawn_self({"read", dir.string(), "w", std::to_string(far), frames_file.string(), "3", "0"});
    ck.note(fmt::format("numa_balancing {}; during the read: numa_pte_updates +{}, numa_hint_faults +{}, "
                        "numa_pages_migrated +{}", balancing, vmstat("numa_pte_updates") - scanned,
                        vmstat("numa_hint_faults") - hints, vmstat("numa_pages_migrated") - migrated));
    if (vmstat("numa_pages_migrated") == migrated)
      ck.note("inconclusive: NUMA balancing moved no page at all during the read (not even the control's)");
    ck.expect(rc == 0, fmt::format("the reader on node {} failed (exit {})", far, rc));
    ck.expect(seg.node_histogram() == seg.info().histogram, "pages moved while a far reader read them");
  }
  s.remove("w");
  std::filesystem::remove_all(dir);
}

/// A node that does not exist is refused before anything is made, with the nodes that do.
void bad_node_case(check& ck) {
  const int missing = ck.config().nodes;
  const auto dir = fresh_dir(shm.mount / "nvm-badnode");
  auto s = onecopy::store::at(dir);
  onecopy::create_options opts;
  opts.where = placement::bind_to({missing});
  const std::string expected = fmt::format("NUMA node {} does not exist or has no memory (nodes with memory: 0-{})",
                                           missing, missing - 1);
  try {
    auto d = s.create("w", onecopy::layout::bytes(MiB), opts);
    ck.expect(false, fmt::format("create bound to node {} succeeded", missing));
  } catch (const onecopy::usage_error& e) {
    ck.note(fmt::format("bind:{}: {}", missing, e.what()));
    ck.expect(std::string(e.what()).find(expected) != std::string::npos, fmt::format("the error does not say '{}'", expected));
  }
  ck.expect(!s.exists("w"), "a segment was left behind");
  std::filesystem::remove_all(dir);
}

/// node 1's pool is short while the host-wide pool is not: the engine must refuse with the
/// numbers, leave nothing behind and take no page; the kernel alone would fail mid-populate.
void pool_short_case(check& ck) {
  constexpr std::uint64_t node1_pages = 4;
  constexpr std::uint64_t bytes = 16 * MiB;  // 9 pages with the header
  const std::uint64_t need = file_pages(bytes, huge_2m);
  std::vector<std::uint64_t> pools(static_cast<std::size_t>(ck.config().nodes), 0);
  pools[0] = 32;
  pools[1] = node1_pages;
  pool_guard guard(ck, pools);
  const auto dir = fresh_dir(hugetlbfs_mount / "nvm-short");
  auto s = onecopy::store::at(dir);
  const auto before = snapshot(ck);
  ck.note(fmt::format("free 2 MiB pages per node: {}; host-wide {}", list_text(before.free_huge),
                      onecopy::sys::read_number("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages").value_or(0)));

  auto attempt = [&](const std::string& label, const placement& where, bool strict, std::uint64_t want_need) {
    onecopy::create_options opts;
    opts.pages = page_size::huge_2m;
    opts.strict = strict;
    opts.where = where;
    const std::string expected = fmt::format("node 1 has {} free 2 MiB pages, need {}", node1_pages, want_need);
    try {
      auto d = s.create("w", onecopy::layout::bytes(bytes), opts);
      ck.expect(false, fmt::format("{}: create succeeded with node 1 short (pages {})", label,
                                   histogram_text(d.report().histogram)));
    } catch (const std::exception& e) {
      std::string what = e.what();
      for (auto& c : what)
        if (c == '\n') c = '|';
      ck.note(fmt::format("{}: {}", label, what));
      ck.expect(what.find(expected) != std::string::npos, fmt::format("{}: the error does not say '{}'", label, expected));
    }
  };
  attempt("bind:1", placement::bind_to({1}), false, need);
  attempt("bind:1 strict", placement::bind_to({1}), true, need);
  attempt("interleave:0,1", placement::interleave_over({0, 1}), false, (need + 1) / 2);

  const auto after = snapshot(ck);
  ck.expect(after.free_huge == before.free_huge,
            fmt::format("free pages changed from {} to {}", list_text(before.free_huge), list_text(after.free_huge)));
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename() != ".locks") left.push_back(e.path().filename().string());
  ck.expect(left.empty(), fmt::format("{} files left in the store (first: {})", left.size(), left.empty() ? "" : left.front()));

  // What the kernel does without the engine's check: mmap reserves from the host-wide pool and
  // succeeds; the bound populate stops once node 1 is empty, and takes nothing from node 0.
  const auto raw = dir / "raw";
  const auto fd = onecopy::sys::open(raw, O_RDWR | O_CREAT | O_EXCL, 0600);
  const std::uint64_t len = need * huge_2m;
  ck.require(::ftruncate(fd.get(), static_cast<off_t>(len)) == 0, "ftruncate on hugetlbfs failed");
  void* addr = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  ck.require(addr != MAP_FAILED, fmt::format("raw mmap of {} pages failed: {}", need, onecopy::sys::errno_text(errno)));
  unsigned long mask = 1ul << 1;
  const long bound = ::mbind(addr, len, MPOL_BIND, &mask, 8 * sizeof mask, 0);
  const int populate = ::madvise(addr, len, MADV_POPULATE_WRITE) == 0 ? 0 : errno;
  const auto raw_after = snapshot(ck);
  ck.note(fmt::format("kernel alone: mmap of {} pages ok, mbind {}, MADV_POPULATE_WRITE {}; free per node {} -> {}",
                      need, bound == 0 ? "ok" : onecopy::sys::errno_text(errno),
                      populate == 0 ? "ok" : onecopy::sys::errno_text(populate), list_text(before.free_huge),
                      list_text(raw_after.free_huge)));
  ck.expect(populate != 0, "the kernel populated more pages on node 1 than its pool has");
  ck.expect(raw_after.free_huge[0] == before.free_huge[0], "the kernel spilled pages to node 0");
  ::munmap(addr, len);
  std::filesystem::remove_all(dir);
}

/// replicate: one file per node, each bound there; every reader attaches its own node's copy
/// without asking for it, and an explicit node picks that replica.
void replicate_case(check& ck, const backing_case& b) {
  const auto nodes = all_nodes(ck);
  // Each node holds a whole copy: a pool of the full size on every node.
  pool_guard pools(ck, pools_for(ck, b, placement::bind_to(nodes), file_pages(segment_bytes, b.page)));
  const auto dir = fresh_dir(b.mount / ("nvm-replicate-" + b.tag));
  auto s = onecopy::store::at(dir);
  onecopy::create_options opts;
  opts.pages = b.pages;
  opts.strict = true;
  opts.replicate_on = nodes;
  {
    const auto m = make_segment(s, "w", segment_bytes, opts);
    ck.note(fmt::format("publish returned {}", m.seg.name()));
    std::uint64_t checksum = 0;
    for (int n : nodes) {
      onecopy::attach_options at;
      at.node = n;
      const auto r = s.attach("w", at);
      ck.expect(r.name() == fmt::format("w@node{}", n), fmt::format("node {} attached {}", n, r.name()));
      expect_spread(ck, fmt::format("w@node{} node_histogram()", n), r.node_histogram(), placement::bind_to({n}),
                    (r.info().file_size + b.page - 1) / b.page);
      ck.expect(r.verify(), fmt::format("w@node{}: checksum mismatch", n));
      if (checksum == 0) checksum = r.info().checksum;
      ck.expect(r.info().checksum == checksum, fmt::format("w@node{} has another checksum", n));
    }
    for (int n : nodes_with_cpus(ck))
      ck.expect(spawn_self({"read-replica", dir.string(), "w", std::to_string(n)}) == 0,
                fmt::format("the replica reader on node {} failed", n));
  }
  s.remove("w");
  ck.expect(s.list().empty(), "remove left replicas behind");
  std::filesystem::remove_all(dir);
}

}  // namespace

std::vector<guest_case> placement_cases() {
  return {
      {"topology", 2, topology_case},
      {"bind-node1-shm", 2,
       [](check& ck) { placement_case(ck, shm, placement::bind_to({1}), segment_bytes, "nvm-bind1"); }},
      {"interleave-0-1-shm", 2,
       [](check& ck) { placement_case(ck, shm, placement::interleave_over({0, 1}), segment_bytes, "nvm-il01"); }},
      {"interleave-all-shm", 2,
       [](check& ck) { placement_case(ck, shm, placement::interleave_over(), segment_bytes, "nvm-ilall"); }},
      {"bind-each-node-hugetlb-2m", 2, bind_each_node_hugetlb_case},
      // 128 MiB: big enough for the engine to populate with two threads (64 MiB each at least),
      // pinned to the bound node's two CPUs.
      {"bind-threads-hugetlb-2m", 2,
       [](check& ck) {
         const int n = widest_node(ck);
         ck.note(fmt::format("node {} has CPUs {}", n, onecopy::sys::format_cpulist(onecopy::sysfs::node_cpus(n))));
         placement_case(ck, hugetlb, placement::bind_to({n}), 128 * MiB, "nvm-bindwide");
       }},
      {"interleave-all-hugetlb-2m", 2,
       [](check& ck) { placement_case(ck, hugetlb, placement::interleave_over(), 128 * MiB, "nvm-ilall"); }},
      {"bind-last-node-thp", 2,
       [](check& ck) {
         placement_case(ck, thp, placement::bind_to({ck.config().nodes - 1}), segment_bytes, "nvm-bindlast");
       }},
      {"interleave-all-thp", 2,
       [](check& ck) { placement_case(ck, thp, placement::interleave_over(), segment_bytes, "nvm-ilall"); }},
      {"reader-other-node-shm", 2, [](check& ck) { reader_case(ck, shm); }},
      {"reader-other-node-hugetlb-2m", 2, [](check& ck) { reader_case(ck, hugetlb); }},
      {"reader-other-node-thp", 2, [](check& ck) { reader_case(ck, thp); }},
      {"reader-far-node-numa-balancing", 2, numa_balancing_case},
      {"bind-missing-node", 2, bad_node_case},
      {"hugetlb-pool-short-node1", 2, pool_short_case},
      {"replicate-attach-local-shm", 2, [](check& ck) { replicate_case(ck, shm); }},
      {"replicate-attach-local-hugetlb-2m", 2, [](check& ck) { replicate_case(ck, hugetlb); }},
  };
}

}  // namespace numa_vm
