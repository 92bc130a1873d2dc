// SPDX-License-Identifier: Apache-2.0
#include "harness.hpp"

#include <chrono>
#include <cstdio>
#include <exception>

#include <fmt/format.h>

namespace numa_vm {

void check::expect(bool ok, std::string_view what) {
  if (ok) return;
  failures_.emplace_back(what);
  fmt::print("  check failed: {}\n", what);
  std::fflush(stdout);
}

void check::require(bool ok, std::string_view what) {
  expect(ok, what);
  if (!ok) throw case_failed(std::string(what));
}

void check::skip(std::string_view why) { throw case_skipped(std::string(why)); }

void check::note(std::string_view line) const {
  fmt::print("  {}\n", line);
  std::fflush(stdout);
}

int run_cases(const std::vector<guest_case>& cases, const guest_config& config) {
  int passed = 0;
  int failed = 0;
  int skipped = 0;
  const auto start_all = std::chrono::steady_clock::now();
  for (const auto& c : cases) {
    if (!config.filter.empty() && c.name.find(config.filter) == std::string::npos) continue;
    fmt::print("CASE {}\n", c.name);
    std::fflush(stdout);
    const auto start = std::chrono::steady_clock::now();
    check ck(config);
    std::string outcome;
    try {
      if (config.nodes < c.min_nodes) ck.skip(fmt::format("needs {} nodes, the guest has {}", c.min_nodes, config.nodes));
      c.run(ck);
    } catch (const case_skipped& e) {
      outcome = fmt::format("SKIP {}: {}", c.name, e.what());
      ++skipped;
    } catch (const case_failed&) {
      // already recorded
    } catch (const std::exception& e) {
      ck.expect(false, fmt::format("unexpected exception: {}", e.what()));
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (outcome.empty()) {
      if (ck.failures().empty()) {
        outcome = fmt::format("PASS {} ({:.1f} s)", c.name, s);
        ++passed;
      } else {
        outcome = fmt::format("FAIL {} ({:.1f} s): {}", c.name, s, ck.failures().front());
        ++failed;
      }
    }
    fmt::print("{}\n", outcome);
    std::fflush(stdout);
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_all).count();
  fmt::print("numa-vm summary: nodes={} passed={} failed={} skipped={} seconds={:.1f}\n", config.nodes,
             passed, failed, skipped, total);
  std::fflush(stdout);
  return failed == 0 && passed > 0 ? 0 : 1;
}

}  // namespace numa_vm
