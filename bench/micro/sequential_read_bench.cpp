// SPDX-License-Identifier: Apache-2.0
// BM_SequentialRead: summing every word of a 2 GiB segment with 1 and 2 threads, against private
// anonymous memory of the same page size. The two are interleaved in 128 MiB pieces (segment
// piece, private piece, alternating which goes first) and each side's pieces are summed: on a
// shared machine whose memory bandwidth drifts by 20% within seconds, pairing at this grain
// is what makes a 5% difference visible (an A/A run of two private buffers differs by ~2%).
// The segment is attached lazily by a fresh reader; its first pass (page faults included) is
// reported apart as first_pass_s, then passes run over mapped pages.
#include <fmt/format.h>

#include "harness.hpp"
#include "kernels.hpp"
#include "onecopy/units.hpp"

namespace onecopy::bench {
namespace {

constexpr std::uint64_t segment_bytes = 2 * GiB;

struct read_fixture : fixture {
  backing_case* backing = nullptr;
  std::string name;
  std::optional<segment> seg;  // a reader's mapping
  std::optional<region> baseline;
  double first_pass_s = 0;
  std::string pages, baseline_pages;
  ~read_fixture() override {
    seg.reset();
    try {
      backing->segments.remove(name);
    } catch (...) {
    }
  }
};

read_fixture& prepare(backing_case* b) {
  return current_fixture<read_fixture>(fmt::format("read/{}", b->label), [&] {
    auto fx = std::make_unique<read_fixture>();
    fx->backing = b;
    fx->name = bench_name("read");
    (void)publish_segment(*b, fx->name, segment_bytes);
    fx->seg.emplace(b->segments.attach(fx->name));
    const auto data = fx->seg->bytes();
    const double t0 = now_seconds();
    benchmark::DoNotOptimize(sequential_sum(data, 1));
    fx->first_pass_s = now_seconds() - t0;
    fx->pages = pages_of(data.data());
    fx->baseline.emplace(region::private_anonymous(b->kind, segment_bytes));
    fill_pattern(fx->baseline->bytes());
    fx->baseline_pages = fx->baseline->pages();
    return fx;
  });
}

void BM_SequentialRead(benchmark::State& state, backing_case* b, unsigned threads) {
  read_fixture* f = nullptr;
  try {
    f = &prepare(b);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const auto seg = f->seg->bytes();
  const std::span<const std::byte> priv = f->baseline->bytes().first(seg.size());
  samples s;
  constexpr std::uint64_t piece = 128 * MiB;
  auto timed = [&](std::span<const std::byte> bytes) {
    const double t0 = now_seconds();
    benchmark::DoNotOptimize(sequential_sum(bytes, threads));
    return now_seconds() - t0;
  };
  std::uint64_t pass = 0;
  for (auto _ : state) {
    double seg_s = 0, priv_s = 0;
    for (std::uint64_t at = 0, k = 0; at < seg.size(); at += piece, ++k) {
      const std::uint64_t n = std::min(piece, seg.size() - at);
      if ((k + pass) % 2 == 0) {
        seg_s += timed(seg.subspan(at, n));
        priv_s += timed(priv.subspan(at, n));
      } else {
        priv_s += timed(priv.subspan(at, n));
        seg_s += timed(seg.subspan(at, n));
      }
    }
    ++pass;
    s.add("segment_s", seg_s);
    s.add("private_s", priv_s);
    state.SetIterationTime(seg_s);
  }
  s.ratio("ratio", "private_s", "segment_s");  // segment bandwidth ÷ private bandwidth
  s.publish(state);
  const double bytes = static_cast<double>(seg.size());
  state.counters["segment_gbps"] = bytes / s.median("segment_s") / 1e9;
  state.counters["private_gbps"] = bytes / s.median("private_s") / 1e9;
  if (threads == 1) state.counters["first_pass_s"] = f->first_pass_s;
  state.SetBytesProcessed(static_cast<std::int64_t>(seg.size()) * state.iterations());
  state.SetLabel(fmt::format("backing={} pages={} private_pages={} threads={}", b->label, f->pages,
                             f->baseline_pages, threads));
}

}  // namespace

void register_benchmarks(std::vector<backing_case>& backings) {
  for (auto& b : backings)
    for (unsigned threads : {1u, 2u})
      benchmark::RegisterBenchmark(fmt::format("BM_SequentialRead/{}/threads:{}", b.label, threads).c_str(),
                                   BM_SequentialRead, &b, threads)
          ->UseManualTime()
          ->Iterations(8)
          ->Unit(benchmark::kMillisecond);
}

}  // namespace onecopy::bench
