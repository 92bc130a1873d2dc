// SPDX-License-Identifier: Apache-2.0
// share(): one copy of a segment per node of an MPI job, made once and attached by every rank.
//
//   onecopy::mpi::shared_segment t = onecopy::mpi::share(MPI_COMM_WORLD, "table",
//       onecopy::layout::array(onecopy::dtype::f32, {rows, cols}),
//       onecopy::mpi::source::file("/lustre/table.bin"));        // rank 0 reads, leaders receive
//   std::span<const float> table = t.seg.array().as<float>();
//   ...
//   onecopy::mpi::finalize(MPI_COMM_WORLD);   // or MPI_Finalize(): job-scope segments go
//
// Collective over comm. The ranks of each node (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), or
// share_options::node_comm) elect one leader — the root on the root's node, else the node's
// lowest rank. Each leader finds the segment in its store or takes the name's lock and creates
// a draft (create-once: a rerun, or another job that made it first, skips the load). The
// leaders that create fill their drafts: each runs the loader, or the root's buffer or file
// reaches them with MPI_Bcast in pieces of chunk_bytes straight into the draft's pages. When
// every rank agrees that every step succeeded, the leaders publish and every rank attaches
// read-only. If any rank fails a step, every rank throws share_error naming it, and the drafts
// are dropped: nothing half-made is ever published.
//
// A rank that dies: Open MPI (without ULFM) does not report a dead peer to the survivors; its
// runtime terminates them (SIGTERM). While share() runs, onecopy catches that signal, removes
// its node's unpublished draft, prints one line naming the segment, the rank and the step, and
// lets the signal end the process. README section "HPC / MPI" has the whole story.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "onecopy/engine/layout.hpp"
#include "onecopy/engine/segment.hpp"
#include "onecopy/mpi/error.hpp"
#include "onecopy/mpi/options.hpp"
#include "onecopy/mpi/source.hpp"

namespace onecopy::mpi {

/// What share() did, as seen by one rank.
struct share_report {
  bool leader = false;        ///< this rank led its node
  bool created_here = false;  ///< its node created the segment in this call (false: found it)
  int nodes = 0;              ///< nodes (groups of ranks sharing a copy) in the communicator
  int nodes_created = 0;      ///< nodes that created it in this call (0 on a rerun)
  int node_ranks = 0;         ///< ranks sharing this rank's copy
  std::uint64_t broadcast_bytes = 0;  ///< bytes this rank sent or received with MPI_Bcast
  double seconds = 0;         ///< wall time of the call on this rank
  std::string host;           ///< this rank's host name
};

/// A shared segment, attached read-only on this rank.
struct shared_segment {
  segment seg;
  share_report report;
};

/// Shares name over comm (collective: every rank calls it with the same name, layout, source
/// kind, root and options). Returns the segment attached on every rank.
/// @param l the data layout; every rank passes the same one. A segment that already exists
///          under name must have this layout.
/// @throws share_error on every rank when any rank fails any step (bad arguments, a full store,
///         a short file, a loader that throws, ...); mpi_call_error when an MPI call fails
[[nodiscard]] shared_segment share(MPI_Comm comm, std::string_view name, const layout& l,
                                   const source& src, const share_options& opts = {});

/// Same, with layout::bytes(size of the root's buffer, or of its file from the offset).
/// @throws share_error as above; a loader source is a usage error (it has no size)
[[nodiscard]] shared_segment share(MPI_Comm comm, std::string_view name, const source& src,
                                   const share_options& opts = {});

/// Collective over comm: a barrier, then each leader removes the scope::job segments its node
/// created through share(comm, …). Ranks keep their mappings. Runs by itself in MPI_Finalize
/// (and when comm is freed) for what was not finalized. Idempotent.
/// @throws mpi_call_error when the barrier fails; os_error when a segment cannot be removed
///         (after trying all)
void finalize(MPI_Comm comm);

}  // namespace onecopy::mpi
