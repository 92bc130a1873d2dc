// SPDX-License-Identifier: Apache-2.0
// BM_Gather: 64M random 8-byte loads (an embedding lookup) from a 2 GiB segment on one core,
// against private anonymous memory of the same page size and, on huge-page backings, against
// plain POSIX shared memory with 4 KiB pages (shm_open, no placement): what huge pages buy.
// All run back to back in each iteration over the same index stream (64M u32, made once).
// Pages are mapped before timing (a reader's first pass is in BM_SequentialRead).
// BM_GatherDependent: the same memory, but each of 4M loads depends on the one before
// (pointer chasing, hash probing): latency-bound, so every TLB miss's page walk is paid in
// full instead of overlapping with other misses.
#include <sys/mman.h>

#include <fmt/format.h>

#include "harness.hpp"
#include "kernels.hpp"
#include "onecopy/units.hpp"

namespace onecopy::bench {
namespace {

constexpr std::uint64_t segment_bytes = 2 * GiB;
constexpr std::uint64_t lookups = 64ull << 20;
constexpr std::uint64_t chain_steps = 4ull << 20;

struct gather_fixture : fixture {
  backing_case* backing = nullptr;
  std::string name;
  std::optional<segment> seg;
  std::optional<region> baseline;
  std::optional<region> posix;  // huge-page backings only
  std::optional<region> index;
  std::string pages, baseline_pages, posix_pages;
  ~gather_fixture() override {
    seg.reset();
    try {
      backing->segments.remove(name);
    } catch (...) {
    }
  }
};

std::span<const std::uint64_t> words(std::span<const std::byte> bytes, std::uint64_t count) {
  return {reinterpret_cast<const std::uint64_t*>(bytes.data()), count};
}

void BM_Gather(benchmark::State& state, backing_case* b, bool dependent) {
  gather_fixture* f = nullptr;
  const std::uint64_t table_words = data_size_for(segment_bytes) / 8;
  try {
    f = &current_fixture<gather_fixture>(fmt::format("gather/{}", b->label), [&] {
      auto fx = std::make_unique<gather_fixture>();
      fx->backing = b;
      fx->name = bench_name("gather");
      fx->index.emplace(region::private_anonymous(page_kind::thp, lookups * sizeof(std::uint32_t)));
      random_indices({reinterpret_cast<std::uint32_t*>(fx->index->bytes().data()), lookups}, table_words);
      (void)publish_segment(*b, fx->name, segment_bytes);
      fx->seg.emplace(b->segments.attach(fx->name, {.populate = true}));
      fx->pages = pages_of(fx->seg->bytes().data());
      fx->baseline.emplace(region::private_anonymous(b->kind, segment_bytes));
      fill_pattern(fx->baseline->bytes());
      fx->baseline_pages = fx->baseline->pages();
      if (b->kind != page_kind::base) {
        fx->posix.emplace(region::posix_shm(segment_bytes));
        fx->posix_pages = fx->posix->pages();
      }
      return fx;
    });
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const std::span<const std::uint32_t> index{reinterpret_cast<const std::uint32_t*>(f->index->bytes().data()), lookups};
  struct target {
    const char* metric;
    std::span<const std::uint64_t> table;
  };
  std::vector<target> targets{{"segment_s", words(f->seg->bytes(), table_words)},
                              {"private_s", words(f->baseline->bytes(), table_words)}};
  if (f->posix) targets.push_back({"posix_shm_4k_s", words(f->posix->bytes(), table_words)});
  samples s;
  std::size_t i = 0;
  for (auto _ : state) {
    double segment_time = 0;
    for (std::size_t k = 0; k < targets.size(); ++k) {
      const std::size_t which = (i + k) % targets.size();  // rotate the order
      const auto& t = targets[which];
      const double t0 = now_seconds();
      benchmark::DoNotOptimize(dependent ? dependent_sum(t.table, chain_steps) : gather_sum(t.table, index));
      const double dt = now_seconds() - t0;
      s.add(t.metric, dt);
      if (which == 0) segment_time = dt;
    }
    ++i;
    state.SetIterationTime(segment_time);
  }
  s.ratio("ratio", "private_s", "segment_s");  // segment lookup rate ÷ private lookup rate
  if (f->posix) s.ratio("ratio_vs_posix_shm_4k", "posix_shm_4k_s", "segment_s");
  s.publish(state);
  const double n = static_cast<double>(dependent ? chain_steps : lookups);
  state.counters["segment_mlookups"] = n / s.median("segment_s") / 1e6;
  state.counters["private_mlookups"] = n / s.median("private_s") / 1e6;
  if (f->posix) state.counters["posix_shm_4k_mlookups"] = n / s.median("posix_shm_4k_s") / 1e6;
  state.SetItemsProcessed(static_cast<std::int64_t>(dependent ? chain_steps : lookups) * state.iterations());
  state.SetLabel(fmt::format("backing={} pages={} private_pages={}{}", b->label, f->pages, f->baseline_pages,
                             f->posix ? " posix_shm_pages=" + f->posix_pages : ""));
}

}  // namespace

void register_benchmarks(std::vector<backing_case>& backings) {
  for (auto& b : backings) {
    benchmark::RegisterBenchmark(fmt::format("BM_Gather/{}", b.label).c_str(), BM_Gather, &b, false)
        ->UseManualTime()
        ->Iterations(3)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(fmt::format("BM_GatherDependent/{}", b.label).c_str(), BM_Gather, &b, true)
        ->UseManualTime()
        ->Iterations(3)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace onecopy::bench
