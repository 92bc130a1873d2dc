// SPDX-License-Identifier: Apache-2.0
// BM_Attach: lazy attach (store::attach: open + validate + mmap, nothing prefaulted) of segments
// from 1 MiB to 8 GiB, against the raw open+fstat+mmap floor on the same file in the same
// iteration (issue 16's goal: attach ≤ 1.3× that floor). Two attaches are timed: attach_s, the
// store attaching a file it has attached before (a worker attaching per task: the header it
// checked then is kept, see header_cache.hpp), and attach_new_s, a store attaching the file for
// the first time (a fresh store, made and given its directory by attaching another segment
// before the clock starts: it reads and checks the header).
// Segments up to 2 GiB are real (created, filled, published); 8 GiB ones are sparse files with a
// valid header (tmpfs backings only), which lazy attach cannot tell apart and which cost no
// memory. Besides the floor (open + fstat + mmap, nothing touched) three more references run in
// each iteration: floor_close (the floor + close: the least an attach that keeps no descriptor
// does, as onecopy's), floor_validate (the floor + pread of the header region at the file's end:
// the least any attach that checks the header against the file's size does) and floor_touch
// (the floor + one read per header page through the mapping: what reading the header from the
// mapping instead would cost). Teardown (munmap, and close where the floor keeps it) is timed
// apart.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "harness.hpp"
#include "onecopy/units.hpp"

namespace onecopy::bench {
namespace {

struct attach_fixture : fixture {
  backing_case* backing = nullptr;
  std::string name;
  std::string primer;  // another segment, attached first by each fresh store
  std::filesystem::path path;
  std::uint64_t file_size = 0;
  std::uint64_t header_bytes = 0;
  std::string pages;
  bool sparse = false;
  ~attach_fixture() override {
    try {
      backing->segments.remove(name);
      backing->segments.remove(primer);
    } catch (...) {
    }
  }
};

void BM_Attach(benchmark::State& state, backing_case* b, std::uint64_t size) {
  attach_fixture* f = nullptr;
  try {
    f = &current_fixture<attach_fixture>(fmt::format("attach/{}/{}", b->label, size), [&] {
      auto fx = std::make_unique<attach_fixture>();
      fx->backing = b;
      fx->name = bench_name(fmt::format("attach-{}", size));
      fx->file_size = size;
      fx->sparse = size > 2 * GiB;
      if (fx->sparse) {
        write_sparse_segment(*b, fx->name, size);
      } else {
        (void)publish_segment(*b, fx->name, size);  // the creator's mapping goes at once
      }
      fx->primer = bench_name(fmt::format("attach-primer-{}", size));
      (void)publish_segment(*b, fx->primer, std::max<std::uint64_t>(page_bytes(b->kind), 2 * MiB));
      fx->path = b->segments.path_of(fx->name);
      const segment probe = b->segments.attach(fx->name);
      fx->header_bytes = probe.info().region_size;  // format v2: the file's last bytes
      fx->pages = format_page_size(probe.info().page_size);
      return fx;
    });
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  samples s;
  const std::uint64_t touch_step = std::min<std::uint64_t>(page_bytes(b->kind), 4 * KiB);
  std::vector<std::byte> head(f->header_bytes);
  // closed: the floor + close, the least an attach that keeps no descriptor does.
  enum class variant { plain, validate, touch, closed };
  // Raw system calls on purpose: the floor is the bare kernel cost, with no onecopy layer.
  auto floor = [&](variant v) {
    const double t0 = now_seconds();
    const int fd = ::open(f->path.c_str(), O_RDONLY | O_CLOEXEC);
    struct ::stat st {};
    ::fstat(fd, &st);
    void* p = ::mmap(nullptr, f->file_size, PROT_READ, MAP_SHARED, fd, 0);
    const std::uint64_t header_at = f->file_size - f->header_bytes;
    if (v == variant::validate)
      benchmark::DoNotOptimize(::pread(fd, head.data(), head.size(), static_cast<off_t>(header_at)));
    if (v == variant::touch && p != MAP_FAILED)
      for (std::uint64_t at = header_at; at < f->file_size; at += touch_step)
        benchmark::DoNotOptimize(*(static_cast<volatile const char*>(p) + at));
    if (v == variant::closed) ::close(fd);
    const double t1 = now_seconds();
    if (p != MAP_FAILED) ::munmap(p, f->file_size);
    if (v != variant::closed) ::close(fd);
    const double t2 = now_seconds();
    if (fd < 0 || p == MAP_FAILED) throw std::runtime_error(fmt::format("open/mmap({}) failed", f->path.string()));
    s.add(v == variant::plain      ? "floor_s"
          : v == variant::validate ? "floor_validate_s"
          : v == variant::touch    ? "floor_touch_s"
                                   : "floor_close_s",
          t1 - t0);
    if (v == variant::plain) s.add("floor_detach_s", t2 - t1);
  };
  auto attach = [&] { return timed_attach(*b, f->name, {}, s); };
  auto attach_new = [&] {
    const store fresh = store::at(b->dir);
    (void)fresh.attach(f->primer);
    const double t0 = now_seconds();
    const segment seg = fresh.attach(f->name);
    s.add("attach_new_s", now_seconds() - t0);
    benchmark::DoNotOptimize(seg.bytes().data());
  };
  int i = 0;
  try {
    for (auto _ : state) {
      double t = 0;
      // Alternate the order so neither side always runs with the other's dentries hot.
      if (i++ % 2 == 0) {
        floor(variant::plain);
        floor(variant::closed);
        floor(variant::validate);
        floor(variant::touch);
        attach_new();
        t = attach();
      } else {
        t = attach();
        attach_new();
        floor(variant::touch);
        floor(variant::validate);
        floor(variant::closed);
        floor(variant::plain);
      }
      state.SetIterationTime(t);
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  s.ratio("ratio", "attach_s", "floor_s");
  s.ratio("ratio_validate", "attach_s", "floor_validate_s");
  s.ratio("ratio_new", "attach_new_s", "floor_s");
  s.ratio("ratio_close", "attach_s", "floor_close_s");
  s.ratio("ratio_new_validate", "attach_new_s", "floor_validate_s");
  s.publish(state);
  state.counters["file_bytes"] = static_cast<double>(f->file_size);
  state.SetLabel(fmt::format("backing={} pages={} file={}", b->label, f->pages, f->sparse ? "sparse" : "populated"));
}

}  // namespace

void register_benchmarks(std::vector<backing_case>& backings) {
  const std::uint64_t sizes[] = {1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB, 2 * GiB, 8 * GiB};
  for (auto& b : backings) {
    for (const std::uint64_t size : sizes) {
      if (size % page_bytes(b.kind) != 0) continue;  // a file of whole pages only
      // Beyond 2 GiB only sparse files, which hugetlbfs cannot hold without reserving the pool.
      if (size > 2 * GiB && (b.kind == page_kind::hugetlb_2m || b.kind == page_kind::hugetlb_1g)) continue;
      benchmark::RegisterBenchmark(fmt::format("BM_Attach/{}/{}", b.label, size_tag(size)).c_str(),
                                   BM_Attach, &b, size)
          ->UseManualTime()
          ->Iterations(1000)
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace onecopy::bench
