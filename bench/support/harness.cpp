// SPDX-License-Identifier: Apache-2.0
// Paired samples, fixtures kept across repetitions, names.
#include "harness.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>

#include <fmt/format.h>


namespace onecopy::bench {

double samples::median(const std::string& metric) const {
  auto it = values_.find(metric);
  if (it == values_.end() || it->second.empty()) return 0;
  std::vector<double> v = it->second;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void samples::publish(benchmark::State& state) const {
  for (const auto& [metric, v] : values_) {
    state.counters[metric] = median(metric);
    state.counters[metric + "_min"] = *std::min_element(v.begin(), v.end());
    state.counters[metric + "_max"] = *std::max_element(v.begin(), v.end());
    state.counters[metric + "_n"] = static_cast<double>(v.size());
  }
  for (const auto& r : ratios_) {
    const double d = median(r.denominator);
    state.counters[r.name] = d > 0 ? median(r.numerator) / d : 0;
  }
}

namespace detail {
namespace {
// The one prepared instance (reset before main returns: nothing onecopy outlives main).
std::unique_ptr<fixture> current;
std::string current_key;
}  // namespace

fixture* find_fixture(const std::string& key) { return current && current_key == key ? current.get() : nullptr; }

fixture& replace_fixture(const std::string& key, const std::function<std::unique_ptr<fixture>()>& make) {
  current.reset();
  current_key.clear();
  current = make();
  current_key = key;
  return *current;
}

void release_fixture() noexcept { current.reset(); }
}  // namespace detail

std::string size_tag(std::uint64_t bytes) {
  if (bytes >= (1ull << 30) && bytes % (1ull << 30) == 0) return fmt::format("{}GiB", bytes >> 30);
  if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0) return fmt::format("{}MiB", bytes >> 20);
  return fmt::format("{}KiB", bytes >> 10);
}

std::string bench_name(const std::string& purpose) { return fmt::format("bench-{}-{}", purpose, ::getpid()); }

double timed_attach(const backing_case& b, const std::string& name, const attach_options& opts, samples& s) {
  const double t0 = now_seconds();
  double t1 = 0;
  {
    const segment seg = b.segments.attach(name, opts);
    t1 = now_seconds();
    benchmark::DoNotOptimize(seg.bytes().data());
  }
  const double t2 = now_seconds();
  s.add("attach_s", t1 - t0);
  s.add("detach_s", t2 - t1);
  return t1 - t0;
}

}  // namespace onecopy::bench
