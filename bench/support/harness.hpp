// SPDX-License-Identifier: Apache-2.0
// What every micro-benchmark executable shares: its main() (machine facts as Google Benchmark
// context, the backings of the run, registration), paired samples reported as median/min/max
// counters, and a clock.
//
// Why paired samples: the machine is shared and loaded, so a baseline measured a minute apart
// from its subject says little. Each iteration measures the subject and its baseline back to
// back; a result reports the median of each and their ratio, plus min and max.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "backings.hpp"

namespace onecopy::bench {

/// Seconds on the monotonic clock.
[[nodiscard]] inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Named samples of one benchmark instance.
class samples {
 public:
  void add(const std::string& metric, double value) { values_[metric].push_back(value); }
  /// Sets counters metric (median), metric_min and metric_max for every metric, and
  /// ratio_name = median(numerator) / median(denominator) for each requested ratio.
  void publish(benchmark::State& state) const;
  void ratio(const std::string& name, const std::string& numerator, const std::string& denominator) {
    ratios_.push_back({name, numerator, denominator});
  }
  [[nodiscard]] double median(const std::string& metric) const;

 private:
  struct ratio_spec {
    std::string name, numerator, denominator;
  };
  std::map<std::string, std::vector<double>> values_;
  std::vector<ratio_spec> ratios_;
};

/// Base of what a benchmark instance prepares (segments, baselines): destroyed when the next
/// instance prepares its own, so two instances' memory never coexist, and before main returns.
struct fixture {
  virtual ~fixture() = default;
};

/// The prepared state for key: the current one when its key matches (repetitions of an
/// instance reuse it), else the previous one is destroyed first and make() builds a new one.
template <class T>
T& current_fixture(const std::string& key, const std::function<std::unique_ptr<T>()>& make);

namespace detail {
fixture* find_fixture(const std::string& key);
fixture& replace_fixture(const std::string& key, const std::function<std::unique_ptr<fixture>()>& make);
void release_fixture() noexcept;
}  // namespace detail

template <class T>
T& current_fixture(const std::string& key, const std::function<std::unique_ptr<T>()>& make) {
  if (fixture* f = detail::find_fixture(key)) return static_cast<T&>(*f);
  return static_cast<T&>(detail::replace_fixture(key, [&] { return std::unique_ptr<fixture>(make()); }));
}

/// Defined by each *_bench.cpp: registers its benchmarks for the run's backings.
void register_benchmarks(std::vector<backing_case>& backings);

/// "1MiB", "256MiB", "2GiB": a size as a benchmark name part (no spaces).
[[nodiscard]] std::string size_tag(std::uint64_t bytes);

/// A unique segment name for this process and purpose.
[[nodiscard]] std::string bench_name(const std::string& purpose);

/// Attaches name on b with opts, then detaches it (segment destroyed): adds the times to s as
/// attach_s and detach_s and returns the attach time.
double timed_attach(const backing_case& b, const std::string& name, const attach_options& opts, samples& s);

}  // namespace onecopy::bench
