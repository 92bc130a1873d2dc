// SPDX-License-Identifier: Apache-2.0
#include "mpi_call.hpp"

#include <mpi.h>

#include <fmt/format.h>

#include "onecopy/mpi/error.hpp"

namespace onecopy::mpi::detail {

std::string error_text(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return fmt::format("MPI error {}", code);
  return std::string(text, static_cast<std::size_t>(len));
}

void check(int code, std::string_view call) {
  if (code != MPI_SUCCESS) throw mpi_call_error(fmt::format("{}: {}", call, error_text(code)), code);
}

}  // namespace onecopy::mpi::detail
