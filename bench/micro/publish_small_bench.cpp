// SPDX-License-Identifier: Apache-2.0
// BM_PublishSmall: the whole creator's path for a 4 KiB segment (create: lock, temp file, map,
// populate; fill; checksum, header, seal, rename; lock file removed), against its baseline,
// back to back in each iteration: writing the same 4 KiB as a plain file in the same directory
// the way an atomic writer does (open O_EXCL, write, fchmod, rename, close). Many-tensor stores
// publish thousands of these; the goal is ≤ 0.5 ms each (issue 18). The segment is removed
// after each iteration (not timed), so every publish starts from an empty name. Two cases:
// an empty store, and one that already holds 5,000 small segments (what a many-tensor store
// looks like when its last tensors are published).
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "harness.hpp"
#include "onecopy/units.hpp"

namespace onecopy::bench {
namespace {

constexpr std::uint64_t data_bytes = 4 * KiB;

void BM_PublishSmall(benchmark::State& state, backing_case* b, int others) {
  const std::string name = bench_name("small");
  std::vector<std::string> filler;
  for (int i = 0; i < others; ++i) {
    filler.push_back(fmt::format("{}.other{}", name, i));
    (void)std::move(b->segments.create(filler.back(), layout::bytes(data_bytes))).publish();
  }
  const auto plain = b->dir / fmt::format(".plain-{}", ::getpid());
  const auto plain_final = b->dir / fmt::format(".plain-{}-final", ::getpid());
  std::byte payload[data_bytes];
  std::memset(payload, 0x5a, sizeof payload);
  samples s;
  try {
    (void)b->segments.runtime_dir();  // the store and its lock directory exist, as in a real run
    for (auto _ : state) {
      double t0 = now_seconds();
      const int fd = ::open(plain.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0 || ::write(fd, payload, sizeof payload) != static_cast<ssize_t>(sizeof payload) ||
          ::fchmod(fd, 0444) != 0 || ::rename(plain.c_str(), plain_final.c_str()) != 0)
        throw std::runtime_error(fmt::format("plain file {}: {}", plain.string(), std::strerror(errno)));
      ::close(fd);
      s.add("plain_file_s", now_seconds() - t0);
      ::unlink(plain_final.c_str());

      t0 = now_seconds();
      {
        draft d = b->segments.create(name, layout::bytes(data_bytes));
        std::memcpy(d.bytes().data(), payload, sizeof payload);
        const segment seg = std::move(d).publish();
      }
      const double t1 = now_seconds();
      s.add("publish_s", t1 - t0);
      state.SetIterationTime(t1 - t0);
      b->segments.remove(name);
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  for (const auto& f : filler) b->segments.remove(f);
  s.ratio("ratio", "publish_s", "plain_file_s");  // how many plain-file writes one publish costs
  s.publish(state);
  state.counters["publish_ms"] = s.median("publish_s") * 1e3;
  state.SetLabel(fmt::format("backing={} bytes={} segments_in_store={}", b->label, data_bytes, others));
}

}  // namespace

void register_benchmarks(std::vector<backing_case>& backings) {
  for (auto& b : backings)
    for (int others : {0, 5000})
      benchmark::RegisterBenchmark(fmt::format("BM_PublishSmall/{}/4KiB/store_of_{}", b.label, others).c_str(),
                                   BM_PublishSmall, &b, others)
          ->UseManualTime()
          ->Iterations(500)
          ->Unit(benchmark::kMicrosecond);
}

}  // namespace onecopy::bench
