// SPDX-License-Identifier: Apache-2.0
// Internal. MPI return codes → mpi_call_error naming the call (our communicators use
// MPI_ERRORS_RETURN, so errors come back here instead of aborting the job).
#pragma once

#include <string>
#include <string_view>

namespace onecopy::mpi::detail {

/// The MPI library's text for an error code.
[[nodiscard]] std::string error_text(int code);

/// Throws mpi_call_error("call: text", code) unless code is MPI_SUCCESS.
void check(int code, std::string_view call);

}  // namespace onecopy::mpi::detail
