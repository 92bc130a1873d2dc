// SPDX-License-Identifier: Apache-2.0
// Internal. What a rank does when it is terminated in the middle of share(). Open MPI without
// ULFM never tells the survivors that a rank died: mpirun sends them SIGTERM (so do batch
// systems when a job is cancelled). While a guard is alive, SIGTERM, SIGINT and SIGHUP remove
// the node's unpublished draft files, print one line naming the segment, rank, host and step,
// and then end the process as the signal would have (the previous action is restored and the
// signal raised again).
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

namespace onecopy::mpi::detail {

class termination_guard {
 public:
  /// Arms the handlers. If another guard is armed (share() on another thread), this one does
  /// nothing.
  termination_guard(std::string_view segment_name, int rank, std::string_view host) noexcept;
  termination_guard(const termination_guard&) = delete;
  termination_guard& operator=(const termination_guard&) = delete;
  /// Restores the previous signal actions.
  ~termination_guard();

  /// The step running now, e.g. "receiving the broadcast". pre: a string literal.
  void step(const char* text) noexcept;
  /// Files to remove if the process is terminated (the node's draft files, not yet published).
  void watch(const std::vector<std::filesystem::path>& files) noexcept;
  /// The watched files were published or removed: forget them.
  void forget_files() noexcept;

 private:
  bool active_ = false;
};

}  // namespace onecopy::mpi::detail
