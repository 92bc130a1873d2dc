// SPDX-License-Identifier: Apache-2.0
// Internal. MPI_Bcast of any number of bytes: pieces of at most chunk bytes (MPI counts are
// ints), each landing directly where the caller points — a draft's pages, never a bounce buffer.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <functional>

namespace onecopy::mpi::detail {

/// Broadcasts size bytes at data from root over comm, chunk bytes at a time. On the root the
/// bytes are only read. before_piece(i), when given, runs before piece i on every rank (the
/// termination guard's progress and the test hook use it).
/// pre: 0 < chunk <= INT_MAX
/// @throws mpi_call_error naming the piece when an MPI_Bcast fails
void chunked_bcast(MPI_Comm comm, int root, std::byte* data, std::uint64_t size, std::uint64_t chunk,
                   const std::function<void(std::uint64_t piece)>& before_piece = {});

/// Test hook: when ONECOPY_MPI_TEST_KILL_AT is "R:P", the rank whose MPI_COMM_WORLD rank is R
/// SIGKILLs itself before broadcast piece P — a rank dying mid-broadcast, at a chosen point.
void test_kill_point(std::uint64_t piece) noexcept;

}  // namespace onecopy::mpi::detail
