// SPDX-License-Identifier: Apache-2.0
// Internal. What onecopy keeps per user communicator, cached on it as an MPI attribute: a
// private duplicate (MPI_ERRORS_RETURN, so failures come back as codes), the node communicator
// and the scope::job segments to remove at finalize. An attribute on MPI_COMM_SELF owns them
// all; its delete callback — the first thing MPI_Finalize does — finalizes what is left.
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

#include "onecopy/engine/store.hpp"

namespace onecopy::mpi::detail {

/// A scope::job segment its node created; its leader removes it at finalize.
struct job_segment {
  store where;
  std::string name;
};

struct context {
  MPI_Comm user = MPI_COMM_NULL;  ///< the caller's communicator (holds the attribute)
  MPI_Comm comm = MPI_COMM_NULL;  ///< MPI_Comm_dup(user), MPI_ERRORS_RETURN
  MPI_Comm node = MPI_COMM_NULL;  ///< MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED)
  std::vector<job_segment> job_segments;
  bool releasing = false;  ///< being released: the attribute's delete callback does nothing
};

/// The context of comm, made on first use (collective over comm then).
/// @throws mpi_call_error
[[nodiscard]] context& context_of(MPI_Comm comm);

/// The context of comm if share() has made one, else nullptr.
[[nodiscard]] context* find_context(MPI_Comm comm);

/// Collective over ctx.comm: a barrier, then this rank removes its job segments (all of them,
/// even when one fails). Returns one line per failure.
/// @throws mpi_call_error when the barrier fails
std::vector<std::string> finalize_context(context& ctx);

}  // namespace onecopy::mpi::detail
