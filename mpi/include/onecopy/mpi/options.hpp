// SPDX-License-Identifier: Apache-2.0
// How share() spreads copies over a job's nodes, how long they live, and where they are made.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <optional>

#include "onecopy/engine/options.hpp"
#include "onecopy/engine/store.hpp"

namespace onecopy::mpi {

/// How many copies a job gets.
enum class copies {
  per_node,   ///< one copy per node (per group of ranks that share memory)
  replicate,  ///< one copy per NUMA node the node's ranks run on ("NAME@nodeN" files)
};

/// How long a shared segment lives.
enum class scope {
  job,         ///< removed by its node's leader at finalize() (or MPI_Finalize); created
               ///< remove_when_unused, so `onecopy gc` takes it once every rank is gone
  persistent,  ///< stays for the next job step; a rerun finds it and skips the load
};

/// Largest piece one MPI_Bcast carries (bytes). MPI counts are ints: 2 GiB - 1 at most.
inline constexpr std::uint64_t max_chunk_bytes = 1u << 30;

/// How to share a segment over a communicator.
struct share_options {
  enum copies copies = copies::per_node;
  enum scope scope = scope::job;
  /// Pages, NUMA placement (per_node: chosen by each node's leader with choose_placement, so
  /// placement::automatic() asks the planner as `onecopy put` does), threads.
  /// remove_when_unused is set for scope::job; replicate sets the replica nodes itself.
  create_options create;
  /// Broadcast piece size in bytes, 1 … max_chunk_bytes.
  std::uint64_t chunk_bytes = 64u << 20;
  /// The ranks that share one copy. MPI_COMM_NULL: MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)
  /// — the ranks of one host. Pass your own for hosts whose ranks do not share /dev/shm
  /// (one container per rank) or to group ranks differently; every group must then use its own
  /// store (the groups' leaders check that no two of them name the same store on one host).
  MPI_Comm node_comm = MPI_COMM_NULL;
  /// The store to use on this rank; std::nullopt: store::from_environment().
  std::optional<store> where;
  /// How long a leader waits for another process (another job) that is creating the same name.
  std::chrono::milliseconds wait = default_wait;
};

}  // namespace onecopy::mpi
