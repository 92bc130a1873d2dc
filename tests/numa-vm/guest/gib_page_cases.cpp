// SPDX-License-Identifier: Apache-2.0
// Each case starts from a full 1 GiB pool and fresh store directories, checks what the engine
// says against the kernel's own state (the pool's free count, file sizes, the files in the store
// and lock directories), and leaves the pool full again for the next case.
#include "gib_page_cases.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "guest_os.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"
#include "placement_checks.hpp"

namespace numa_vm {
namespace {

using onecopy::GiB;
using clock_type = std::chrono::steady_clock;

const std::filesystem::path gib_root = gib_mount / "nvm-gib";
const std::filesystem::path shm_root = shm_mount / "nvm-gib";
const std::filesystem::path lock_root = "/tmp/nvm-gib";
const std::filesystem::path gib_pool = "/sys/kernel/mm/hugepages/hugepages-1048576kB";

/// Free pages of the 1 GiB pool: the kernel's own count, independent of what the engine says.
std::uint64_t free_gib_pages() { return onecopy::sys::read_number(gib_pool / "free_hugepages").value_or(0); }
/// Free pages that no mapping has reserved: a hugetlbfs draft's mmap reserves its pages at create,
/// and its fill faults them in later, so this is what a segment has taken at every step.
std::uint64_t available_gib_pages() {
  const auto reserved = onecopy::sys::read_number(gib_pool / "resv_hugepages").value_or(0);
  const auto free = free_gib_pages();
  return free > reserved ? free - reserved : 0;
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

void remove_gib_store() {
  for (const auto& root : {gib_root, shm_root, lock_root}) std::filesystem::remove_all(root);
}

/// gib_store(with_shm) with its directories made afresh (0700, empty).
onecopy::store fresh_gib_store(bool with_shm = false) {
  remove_gib_store();
  fresh_dir(gib_root);
  fresh_dir(lock_root);
  if (with_shm) fresh_dir(shm_root);
  auto s = gib_store(with_shm);
  for (const auto& b : s.backings()) fresh_dir(b.dir);
  return s;
}

/// Names of the files (not directories) in dir, sorted; none when dir is missing.
std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (!e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}
std::string names_text(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : " ") + n;
  return s.empty() ? "(none)" : s;
}
std::size_t count_ending(const std::vector<std::string>& names, std::string_view suffix) {
  return static_cast<std::size_t>(std::count_if(names.begin(), names.end(), [&](const auto& n) { return n.ends_with(suffix); }));
}

/// The pool's size, which every case starts and ends with all free; ends the case when the
/// kernel reserved fewer than pages at boot or a page is in use.
std::uint64_t full_pool(check& ck, std::uint64_t pages) {
  const auto total = onecopy::sys::read_number(gib_pool / "nr_hugepages").value_or(0);
  const auto free = free_gib_pages();
  ck.note(fmt::format("1 GiB pool: {} pages, {} free", total, free));
  ck.require(total >= pages, fmt::format("the kernel reserved {} 1 GiB pages at boot, the case needs {} "
                                         "(run-guest.sh --gib-pages)", total, pages));
  ck.require(free == total, fmt::format("{} of the {} 1 GiB pages are in use before the case", total - free, total));
  return total;
}

void expect_free(check& ck, std::string_view when, std::uint64_t expected) {
  const auto free = free_gib_pages(), available = available_gib_pages();
  ck.note(fmt::format("{:<44} {} free 1 GiB pages, {} of them not reserved", when, free, available));
  ck.expect(available == expected, fmt::format("{}: {} free 1 GiB pages not reserved by a mapping ({} free), "
                                               "expected {}", when, available, free, expected));
}

/// The companion header of a data file: <lock dir>/<device>-<inode>.header.
std::filesystem::path companion_of(const onecopy::store& s, std::uint64_t device, std::uint64_t inode) {
  return s.runtime_dir() / fmt::format("{}-{}.header", device, inode);
}

// ---- cases ------------------------------------------------------------------------------------

constexpr std::uint64_t seed = 0x61B;

/// An exact 1 GiB array: one page, a file of exactly 1 GiB, its header in the companion; a
/// reader process maps the same physical page and checks every byte; remove gives it back.
void exact_gib_case(check& ck) {
  const auto pool = full_pool(ck, 1);
  auto s = fresh_gib_store();
  {
    auto start = clock_type::now();
    auto d = s.create("g", onecopy::layout::bytes(GiB), gib_pages_strict());
    const double create_s = seconds_since(start);
    const auto report = d.report();
    ck.note(fmt::format("create: backing {}, pages {}, file {}, populate {} (the kernel zeroes the page)",
                        onecopy::to_string(report.backing), onecopy::format_page_size(report.page_size),
                        onecopy::format_bytes(report.file_size), onecopy::format_seconds(report.populate_seconds)));
    ck.expect(report.page_size == GiB && report.file_size == GiB,
              fmt::format("create: pages {}, file {} bytes; expected 1 GiB and 1 GiB", report.page_size, report.file_size));
    expect_free(ck, "after create", pool - 1);
    start = clock_type::now();
    fill_pattern(d.bytes(), seed);
    const double fill_s = seconds_since(start);
    start = clock_type::now();
    std::optional<onecopy::segment> seg = std::move(d).publish();
    const double publish_s = seconds_since(start);
    ck.note(fmt::format("times: create {:.2f} s, fill {:.2f} s, publish (checksum of 1 GiB) {:.2f} s", create_s,
                        fill_s, publish_s));

    const auto& info = seg->info();
    struct ::stat st {};
    ck.require(::stat(seg->path().c_str(), &st) == 0, fmt::format("stat {}: {}", seg->path().string(),
                                                                 onecopy::sys::errno_text(errno)));
    const auto companion = companion_of(s, st.st_dev, st.st_ino);
    const auto companion_size = std::filesystem::exists(companion) ? std::filesystem::file_size(companion) : 0;
    ck.note(fmt::format("data file {}: {} bytes; companion {}: {} bytes; info: file {}, data at {}, in_companion {}",
                        seg->path().string(), st.st_size, companion.string(), companion_size, info.file_size,
                        info.data_offset, info.in_companion));
    ck.expect(static_cast<std::uint64_t>(st.st_size) == GiB, fmt::format("the data file has {} bytes, not 1 GiB", st.st_size));
    ck.expect(info.file_size == GiB && info.data_offset == 0 && info.in_companion,
              "info: expected a 1 GiB file, data at 0, header in the companion");
    ck.expect(std::filesystem::exists(companion), fmt::format("no companion header {}", companion.string()));
    ck.expect(seg->file_identity() == std::pair<std::uint64_t, std::uint64_t>(st.st_dev, st.st_ino),
              "file_identity() is not the data file's device and inode");
    expect_free(ck, "after publish", pool - 1);

    const auto first_frame = frames_of(seg->bytes().first(4096)).front();
    start = clock_type::now();
    const int rc = spawn_self({"read-gib", "g", std::to_string(seed), std::to_string(first_frame)});
    ck.note(fmt::format("reader process: {:.2f} s in all", seconds_since(start)));
    ck.expect(rc == 0, fmt::format("the reader process failed (exit {})", rc));
    expect_free(ck, "after the reader (it took no page)", pool - 1);

    const auto entries = s.list();
    ck.expect(entries.size() == 1 && entries.front().info.file_size == GiB && entries.front().info.in_companion,
              fmt::format("list(): {} entries, expected g with a 1 GiB file", entries.size()));
    s.remove("g");
    ck.expect(!std::filesystem::exists(companion), "remove left the companion behind");
    expect_free(ck, "removed, still mapped here", pool - 1);
    seg.reset();
  }
  expect_free(ck, "removed and unmapped", pool);
  ck.expect(files_in(s.backings().front().dir).empty() && count_ending(files_in(s.runtime_dir()), ".header") == 0,
            "files left in the store or companions in the lock directory");
  remove_gib_store();
}

/// A creator stopped at before_rename has published its companion and not yet renamed its
/// data file; SIGKILL there leaves no segment anyone can see, and gc removes both files.
void killed_before_rename_case(check& ck) {
  const auto pool = full_pool(ck, 1);
  auto s = fresh_gib_store();
  const auto store_dir = s.backings().front().dir;
  const auto lock_dir = s.runtime_dir();
  const pid_t creator = start_self({"create-gib", "k", "0"}, {"ONECOPY_TEST_PAUSE_AT=before_rename"});
  ck.require(wait_until_stopped(creator), "the creator exited before it reached before_rename");
  ck.note(fmt::format("creator pid {} stopped at before_rename; store dir: {}; lock dir: {}", creator,
                      names_text(files_in(store_dir)), names_text(files_in(lock_dir))));
  // The companion is published already, under the identity of the data file still to be renamed.
  const auto temp = store_dir / fmt::format(".k.{}.tmp", creator);
  struct ::stat st {};
  ck.require(::stat(temp.c_str(), &st) == 0, fmt::format("no temp file {}", temp.string()));
  ck.expect(files_in(store_dir).size() == 1, "the store dir holds more than the temp file");
  ck.expect(std::filesystem::exists(companion_of(s, st.st_dev, st.st_ino)),
            fmt::format("no companion {} for the temp file", companion_of(s, st.st_dev, st.st_ino).string()));
  ck.expect(!s.exists("k"), "the segment is visible before its rename");
  expect_free(ck, "creator stopped", pool - 1);
  const auto early = s.gc();
  ck.expect(early.removed_temp_files.empty(), "gc removed files of a creator that is alive");

  ::kill(creator, SIGKILL);
  const int rc = wait_for_exit(creator);
  ck.expect(rc == 128 + SIGKILL, fmt::format("the creator ended with {}, not SIGKILL", rc));
  ck.expect(!s.exists("k"), "exists() sees the killed creator's segment");
  try {
    (void)s.attach("k");
    ck.expect(false, "attach found the killed creator's segment");
  } catch (const onecopy::os_error& e) {
    ck.note(fmt::format("attach: {}", e.what()));
    ck.expect(e.err() == ENOENT, fmt::format("attach failed with '{}', not ENOENT", e.what()));
  }
  ck.expect(s.list().empty(), fmt::format("list() shows {} segments", s.list().size()));
  expect_free(ck, "killed (its temp file holds the page)", pool - 1);

  const auto report = s.gc();
  std::vector<std::string> removed;
  for (const auto& p : report.removed_temp_files) removed.push_back(p.string());
  ck.note(fmt::format("gc removed: {}", names_text(removed)));
  ck.expect(report.removed_temp_files.size() == 2, "gc did not remove the temp file and the companion");
  ck.expect(files_in(store_dir).empty(), fmt::format("left in the store dir: {}", names_text(files_in(store_dir))));
  ck.expect(count_ending(files_in(lock_dir), ".header") == 0 && count_ending(files_in(lock_dir), ".tmp") == 0,
            fmt::format("left in the lock dir: {}", names_text(files_in(lock_dir))));
  expect_free(ck, "after gc", pool);
  remove_gib_store();
}

/// Automatic pages on a store with a 1 GiB hugetlbfs and /dev/shm: an exact 1 GiB array takes
/// one 1 GiB page (nothing wasted); a byte more would round up to a second page, so it goes to
/// /dev/shm.
void automatic_pages_case(check& ck) {
  const auto pool = full_pool(ck, 2);
  auto s = fresh_gib_store(true);
  {
    auto d = s.create("a", onecopy::layout::bytes(GiB));
    const auto& r = d.report();
    ck.note(fmt::format("1 GiB, pages auto: backing {}, pages {}, file {}, fallbacks {}",
                        onecopy::to_string(r.backing), onecopy::format_page_size(r.page_size),
                        onecopy::format_bytes(r.file_size), r.fallbacks.size()));
    for (const auto& f : r.fallbacks) ck.note("fallback: " + f);
    ck.expect(r.backing == onecopy::backing_kind::hugetlbfs && r.page_size == GiB && r.file_size == GiB,
              "an exact 1 GiB array did not get one 1 GiB page");
    expect_free(ck, "after create", pool - 1);
    const auto seg = std::move(d).publish();  // zeros: checksummed without reading them back
    ck.expect(seg.info().in_companion && s.attach("a").info().file_size == GiB, "published without its companion");
    s.remove("a");
  }
  expect_free(ck, "removed", pool);
  {
    auto d = s.create("b", onecopy::layout::bytes(GiB + 1));
    const auto& r = d.report();
    ck.note(fmt::format("1 GiB + 1 byte, pages auto: backing {}, pages {}, first fallback: {}",
                        onecopy::to_string(r.backing), onecopy::format_page_size(r.page_size),
                        r.fallbacks.empty() ? "(none)" : r.fallbacks.front()));
    ck.expect(r.backing == onecopy::backing_kind::shm, "1 GiB + 1 byte did not go to /dev/shm");
    ck.expect(!r.fallbacks.empty() && r.fallbacks.front().find("would waste") != std::string::npos,
              "no 'would waste' reason for passing the 1 GiB pages over");
    expect_free(ck, "after create on /dev/shm", pool);
  }
  remove_gib_store();
}

}  // namespace

onecopy::store gib_store(bool with_shm) {
  onecopy::store_config config;
  config.roots = {gib_root};
  if (with_shm) config.roots.push_back(shm_root);
  config.lock_root = lock_root;
  return onecopy::store::from_config(config);
}

onecopy::create_options gib_pages_strict() {
  onecopy::create_options opts;
  opts.pages = onecopy::page_size::huge_1g;
  opts.strict = true;
  return opts;
}

std::vector<guest_case> gib_page_cases() {
  return {
      {"exact-gib-hugetlb-1g", 1, exact_gib_case},
      {"exact-gib-killed-before-rename", 1, killed_before_rename_case},
      {"exact-gib-automatic-pages", 1, automatic_pages_case},
  };
}

}  // namespace numa_vm
