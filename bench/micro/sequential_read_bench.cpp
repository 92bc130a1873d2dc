// SPDX-License-Identifier: Apache-2.0
// BM_SequentialRead: summing every word of a 2 GiB segment with 1 and 2 threads, against private
// anonymous memory of the same page size. They are interleaved in 128 MiB pieces (rotating
// which goes first) and each side's pieces are summed: on a shared machine whose memory
// bandwidth drifts by 20% within seconds, pairing at this grain is what makes a 5% difference
// visible. A second private buffer of the same pages is read the same way as an A/A control
// (ratio_control): two buffers of the same kind can differ by several percent on this VM,
// depending on where their pages landed, and that bounds what a ratio can say.
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
  std::optional<region> control;  // a second private buffer: the A/A control
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
    try {
      fx->control.emplace(region::private_anonymous(b->kind, segment_bytes));
      fill_pattern(fx->control->bytes());
    } catch (const std::exception&) {
      // No room for the control (e.g. a 1 GiB pool that could not grow that far): run without.
    }
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
  const bool controlled = f->control.has_value();
  const std::span<const std::byte> ctrl = controlled ? f->control->bytes().first(seg.size()) : priv;
  samples s;
  constexpr std::uint64_t piece = 128 * MiB;
  auto timed = [&](std::span<const std::byte> bytes) {
    const double t0 = now_seconds();
    benchmark::DoNotOptimize(sequential_sum(bytes, threads));
    return now_seconds() - t0;
  };
  std::uint64_t pass = 0;
  for (auto _ : state) {
    const std::span<const std::byte> sides[3] = {seg, priv, ctrl};
    double t[3] = {0, 0, 0};
    for (std::uint64_t at = 0, k = 0; at < seg.size(); at += piece, ++k) {
      const std::uint64_t n = std::min(piece, seg.size() - at);
      const std::uint64_t count = controlled ? 3 : 2;
      for (std::uint64_t j = 0; j < count; ++j) {
        const std::uint64_t side = (k + pass + j) % count;
        t[side] += timed(sides[side].subspan(at, n));
      }
    }
    ++pass;
    const double seg_s = t[0];
    s.add("segment_s", t[0]);
    s.add("private_s", t[1]);
    if (controlled) s.add("control_s", t[2]);
    state.SetIterationTime(seg_s);
  }
  s.ratio("ratio", "private_s", "segment_s");  // segment bandwidth ÷ private bandwidth
  if (controlled) s.ratio("ratio_control", "private_s", "control_s");  // two private buffers
  s.publish(state);
  const double bytes = static_cast<double>(seg.size());
  state.counters["segment_gbps"] = bytes / s.median("segment_s") / 1e9;
  state.counters["private_gbps"] = bytes / s.median("private_s") / 1e9;
  if (threads == 1) state.counters["first_pass_s"] = f->first_pass_s;
  state.SetBytesProcessed(static_cast<std::int64_t>(seg.size()) * state.iterations());
  state.SetLabel(fmt::format("backing={} pages={} private_pages={} threads={}{}", b->label, f->pages,
                             f->baseline_pages, threads, controlled ? "" : " control=none (no memory for it)"));
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
