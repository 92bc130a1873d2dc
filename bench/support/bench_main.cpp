// SPDX-License-Identifier: Apache-2.0
// main() of every micro-benchmark executable: machine facts as Google Benchmark context, the
// run's backings, the executable's register_benchmarks(), and cleanup of what it prepared.
#include <cstdio>
#include <exception>

#include "harness.hpp"
#include "machine.hpp"

int main(int argc, char** argv) {
  try {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    onecopy::bench::default_store_dir fallback;
    auto backings = onecopy::bench::backings_from_environment();
    for (const auto& [key, value] : onecopy::bench::machine_facts()) benchmark::AddCustomContext(key, value);
    std::string labels;
    for (const auto& b : backings) labels += (labels.empty() ? "" : ",") + b.label + "=" + b.dir.string();
    benchmark::AddCustomContext("backings", labels);
    onecopy::bench::register_benchmarks(backings);
    benchmark::RunSpecifiedBenchmarks();
    onecopy::bench::detail::release_fixture();  // removes its segments
    benchmark::Shutdown();
    return 0;
  } catch (const std::exception& e) {
    onecopy::bench::detail::release_fixture();
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
}
