// SPDX-License-Identifier: Apache-2.0
// The error every rank of a failed share() throws: which rank failed first, on which host,
// in which step, and why.
#pragma once

#include <stdexcept>
#include <string>

namespace onecopy::mpi {

/// share() failed on some rank; every rank of the communicator throws this, naming the first
/// failing rank (the lowest one when several fail in the same step).
class share_error : public std::runtime_error {
 public:
  /// @param what the whole message ("share 'w': rank 3 on node1 (creating): no space ...")
  share_error(const std::string& what, int failed_rank, std::string host, std::string step,
              std::string kind, std::string cause)
      : std::runtime_error(what), failed_rank_(failed_rank), host_(std::move(host)),
        step_(std::move(step)), kind_(std::move(kind)), cause_(std::move(cause)) {}

  /// The failing rank, in the communicator given to share().
  [[nodiscard]] int failed_rank() const noexcept { return failed_rank_; }
  /// Its host name.
  [[nodiscard]] const std::string& host() const noexcept { return host_; }
  /// The step it failed in: "checking arguments", "creating", "loading", "broadcasting",
  /// "publishing", "attaching".
  [[nodiscard]] const std::string& step() const noexcept { return step_; }
  /// The exception type it caught: "usage_error", "no_space_error", "os_error", ...
  [[nodiscard]] const std::string& kind() const noexcept { return kind_; }
  /// That exception's message.
  [[nodiscard]] const std::string& cause() const noexcept { return cause_; }

 private:
  int failed_rank_;
  std::string host_;
  std::string step_;
  std::string kind_;
  std::string cause_;
};

/// An MPI call returned an error (the communicators share() uses have MPI_ERRORS_RETURN).
class mpi_call_error : public std::runtime_error {
 public:
  mpi_call_error(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  /// The MPI error code.
  [[nodiscard]] int code() const noexcept { return code_; }

 private:
  int code_;
};

}  // namespace onecopy::mpi
