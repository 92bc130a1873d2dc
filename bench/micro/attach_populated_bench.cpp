// SPDX-License-Identifier: Apache-2.0
// BM_AttachPopulated: prefaulted attach (attach_options::populate: MADV_POPULATE_READ over the
// whole file) of a real 2 GiB segment per page size, against the raw open + mmap +
// MADV_POPULATE_READ floor on the same file in the same iteration. Populating maps pages that
// exist (nothing is allocated or zeroed), so the cost is page-table work: one entry per page.
// Teardown (munmap of the populated mapping + close) is timed apart.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>

#include "harness.hpp"
#include "onecopy/units.hpp"

namespace onecopy::bench {
namespace {

constexpr std::uint64_t segment_bytes = 2 * GiB;

struct populated_fixture : fixture {
  backing_case* backing = nullptr;
  std::string name;
  std::filesystem::path path;
  std::string pages;
  ~populated_fixture() override {
    try {
      backing->segments.remove(name);
    } catch (...) {
    }
  }
};

void BM_AttachPopulated(benchmark::State& state, backing_case* b) {
  populated_fixture* f = nullptr;
  try {
    f = &current_fixture<populated_fixture>(fmt::format("populated/{}", b->label), [&] {
      auto fx = std::make_unique<populated_fixture>();
      fx->backing = b;
      fx->name = bench_name("populated");
      const segment seg = publish_segment(*b, fx->name, segment_bytes);
      fx->path = seg.path();
      fx->pages = pages_of(seg.bytes().data());
      return fx;
    });
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  samples s;
  // Raw system calls on purpose: the floor is the bare kernel cost, with no onecopy layer.
  auto floor = [&] {
    const double t0 = now_seconds();
    const int fd = ::open(f->path.c_str(), O_RDONLY | O_CLOEXEC);
    void* p = ::mmap(nullptr, segment_bytes, PROT_READ, MAP_SHARED, fd, 0);
    const int rc = p == MAP_FAILED ? -1 : ::madvise(p, segment_bytes, MADV_POPULATE_READ);
    const double t1 = now_seconds();
    if (p != MAP_FAILED) ::munmap(p, segment_bytes);
    ::close(fd);
    const double t2 = now_seconds();
    if (fd < 0 || rc != 0) throw std::runtime_error(fmt::format("open/mmap/populate({}) failed", f->path.string()));
    s.add("floor_s", t1 - t0);
    s.add("floor_detach_s", t2 - t1);
  };
  auto attach = [&] { return timed_attach(*b, f->name, {.populate = true}, s); };
  int i = 0;
  try {
    for (auto _ : state) {
      double t = 0;
      if (i++ % 2 == 0) {
        floor();
        t = attach();
      } else {
        t = attach();
        floor();
      }
      state.SetIterationTime(t);
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  s.ratio("ratio", "attach_s", "floor_s");
  s.publish(state);
  state.counters["file_bytes"] = static_cast<double>(segment_bytes);
  state.SetLabel(fmt::format("backing={} pages={}", b->label, f->pages));
}

}  // namespace

void register_benchmarks(std::vector<backing_case>& backings) {
  for (auto& b : backings) {
    // Few iterations where each maps half a million pages, more where it maps two.
    const int iterations = b.kind == page_kind::base ? 6 : b.kind == page_kind::thp ? 10 : 30;
    benchmark::RegisterBenchmark(fmt::format("BM_AttachPopulated/{}/{}", b.label, size_tag(segment_bytes)).c_str(),
                                 BM_AttachPopulated, &b)
        ->UseManualTime()
        ->Iterations(iterations)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace onecopy::bench
