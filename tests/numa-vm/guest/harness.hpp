// SPDX-License-Identifier: Apache-2.0
// The guest test program's harness: named cases that print what they saw, one PASS/FAIL/SKIP
// line each and a closing summary line the host-side runner looks for. Plain output on purpose:
// it goes through a serial console and is read by a shell script.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace numa_vm {

/// What the host told the guest to expect (from run-guest.sh, through /init).
struct guest_config {
  int nodes = 0;                            ///< NUMA nodes the guest was given
  std::vector<std::string> cpus;            ///< each node's CPU list ("" = memory only; may be empty)
  std::vector<std::vector<int>> distances;  ///< the SLIT matrix QEMU was given (may be empty)
  std::string filter;                       ///< run only cases whose name contains this
};

/// Ends a case as skipped (thrown by check::skip).
struct case_skipped : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// Ends a case as failed (thrown by check::require).
struct case_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Collects one case's failures and prints its observations, indented under the case.
class check {
 public:
  explicit check(const guest_config& config) : config_(config) {}

  /// Records a failure when !ok; the case goes on.
  void expect(bool ok, std::string_view what);
  /// Records a failure and ends the case when !ok.
  /// @throws case_failed when !ok
  void require(bool ok, std::string_view what);
  /// Ends the case as skipped. @throws case_skipped always
  [[noreturn]] void skip(std::string_view why);
  /// Prints one observation line under the case.
  void note(std::string_view line) const;

  [[nodiscard]] const guest_config& config() const noexcept { return config_; }
  [[nodiscard]] const std::vector<std::string>& failures() const noexcept { return failures_; }

 private:
  const guest_config& config_;
  std::vector<std::string> failures_;
};

/// One guest test case.
struct guest_case {
  std::string name;
  int min_nodes = 2;  ///< skipped on guests with fewer nodes
  std::function<void(check&)> run;
};

/// Runs every case whose name contains config.filter, printing "PASS name (s)" / "FAIL name:
/// why" / "SKIP name: why" and finally "numa-vm summary: nodes=N passed=P failed=F skipped=S".
/// @return 0 when no case failed and at least one passed, 1 otherwise
[[nodiscard]] int run_cases(const std::vector<guest_case>& cases, const guest_config& config);

}  // namespace numa_vm
