// SPDX-License-Identifier: Apache-2.0
// Internal. All-or-nothing steps: every rank runs its part of a step, then all agree on the
// outcome; if any rank failed, every rank throws the same share_error naming the first one.
#pragma once

#include <mpi.h>

#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace onecopy::mpi::detail {

/// One rank's result of a step: ok, or the exception it caught.
struct outcome {
  bool ok = true;
  std::string kind;  ///< exception type: "usage_error", "no_space_error", ...
  std::string what;
};

/// The type name of e, as share_error::kind() reports it.
[[nodiscard]] std::string kind_of(const std::exception& e);

/// Runs f; an exception becomes a failed outcome.
template <class F>
[[nodiscard]] outcome attempt(F&& f) noexcept {
  try {
    f();
    return {};
  } catch (const std::exception& e) {
    try {
      return {false, kind_of(e), e.what()};
    } catch (...) {
      return {false, "std::bad_alloc", "out of memory while reporting an error"};
    }
  } catch (...) {
    return {false, "unknown", "a non-standard exception"};
  }
}

/// Collective over comm: one MPI_Allreduce when every rank succeeded, and then the sums of
/// counts over the ranks (e.g. how many nodes create). If any rank failed, the lowest failing
/// rank sends its host, kind and message to all, and every rank throws share_error("share
/// 'name': rank R on HOST failed STEP: message").
/// @throws share_error as above; mpi_call_error when the agreement itself fails
std::vector<long long> agree(MPI_Comm comm, const outcome& mine, std::string_view name,
                             std::string_view step, std::vector<long long> counts = {});

/// The failure path of agree(), for callers that learned by other means that some rank failed:
/// lowest is the lowest failing rank (every rank passes the same). Collective.
[[noreturn]] void fail_together(MPI_Comm comm, const outcome& mine, int lowest, std::string_view name,
                                std::string_view step);

}  // namespace onecopy::mpi::detail
