// SPDX-License-Identifier: Apache-2.0
// BM_Publish: create + fill + checksum + publish of a 2 GiB segment (the creator's whole path:
// size, map and populate every page; copy the bytes in; chunked xxh3; header, mprotect,
// rename), against memcpy of the same bytes into already-populated private memory of the same
// page size, back to back in each iteration. The fill and the memcpy copy from the same 256 MiB
// source, eight times over, on one thread each.
//
// Cold versus warm: on this VM memory the guest frees is handed back to the host, and the next
// first touch of it is slow again. The first iteration runs after 4 s of idling (freed memory
// has been reported by then) and, for hugetlbfs, on pool pages not yet used in this run; it
// is reported apart as publish_cold_s. The others reuse pages freed just before (warm).
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "harness.hpp"
#include "onecopy/units.hpp"

namespace onecopy::bench {
namespace {

constexpr std::uint64_t segment_bytes = 2 * GiB;
constexpr std::uint64_t source_bytes = 256 * MiB;

struct publish_fixture : fixture {
  std::optional<region> source;
  std::optional<region> destination;  // the memcpy baseline's populated memory
  std::string destination_pages;
};

void copy_tiles(std::span<std::byte> to, std::span<const std::byte> from) {
  for (std::uint64_t at = 0; at < to.size(); at += from.size())
    std::memcpy(to.data() + at, from.data(), std::min<std::uint64_t>(from.size(), to.size() - at));
}

void BM_Publish(benchmark::State& state, backing_case* b) {
  publish_fixture* f = nullptr;
  const std::uint64_t data_bytes = data_size_for(segment_bytes);
  try {
    f = &current_fixture<publish_fixture>(fmt::format("publish/{}", b->label), [&] {
      auto fx = std::make_unique<publish_fixture>();
      fx->source.emplace(region::private_anonymous(page_kind::thp, source_bytes));
      fill_pattern(fx->source->bytes());
      fx->destination.emplace(region::private_anonymous(b->kind, segment_bytes));
      fx->destination_pages = fx->destination->pages();
      return fx;
    });
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  const std::span<const std::byte> source = f->source->bytes();
  const std::span<std::byte> destination = f->destination->bytes().first(data_bytes);
  const std::string name = bench_name("publish");
  samples s;
  std::string pages;
  int i = 0;
  try {
    for (auto _ : state) {
      const bool cold = i++ == 0;
      if (cold) std::this_thread::sleep_for(std::chrono::seconds(4));
      double t0 = now_seconds();
      copy_tiles(destination, source);
      s.add("memcpy_s", now_seconds() - t0);

      t0 = now_seconds();
      draft d = b->segments.create(name, layout::bytes(data_bytes));
      const double t1 = now_seconds();
      copy_tiles(d.bytes(), source);
      const double t2 = now_seconds();
      if (pages.empty()) pages = pages_of(d.bytes().data());
      double t3 = 0;
      {
        const segment seg = std::move(d).publish();
        t3 = now_seconds();
      }
      b->segments.remove(name);
      const std::string suffix = cold ? "_cold_s" : "_s";
      s.add("publish" + suffix, t3 - t0);
      s.add("create" + suffix, t1 - t0);
      s.add("fill" + suffix, t2 - t1);
      s.add("seal" + suffix, t3 - t2);  // checksum, header, mprotect, rename
      state.SetIterationTime(t3 - t0);
    }
  } catch (const std::exception& e) {
    try {
      b->segments.remove(name);
    } catch (...) {
    }
    state.SkipWithError(e.what());
    return;
  }
  // Bandwidth ratios: publish bytes/s ÷ memcpy bytes/s.
  s.ratio("ratio", "memcpy_s", "publish_s");
  s.ratio("ratio_cold", "memcpy_s", "publish_cold_s");
  s.publish(state);
  const double bytes = static_cast<double>(data_bytes);
  state.counters["memcpy_gbps"] = bytes / s.median("memcpy_s") / 1e9;
  state.counters["publish_gbps"] = bytes / s.median("publish_s") / 1e9;
  state.counters["publish_cold_gbps"] = bytes / s.median("publish_cold_s") / 1e9;
  state.SetBytesProcessed(static_cast<std::int64_t>(data_bytes) * state.iterations());
  state.SetLabel(fmt::format("backing={} pages={} memcpy_pages={} threads={}", b->label, pages,
                             f->destination_pages, std::thread::hardware_concurrency()));
}

}  // namespace

void register_benchmarks(std::vector<backing_case>& backings) {
  for (auto& b : backings)
    benchmark::RegisterBenchmark(fmt::format("BM_Publish/{}/{}", b.label, size_tag(segment_bytes)).c_str(),
                                 BM_Publish, &b)
        ->UseManualTime()
        ->Iterations(5)
        ->Unit(benchmark::kMillisecond);
}

}  // namespace onecopy::bench
