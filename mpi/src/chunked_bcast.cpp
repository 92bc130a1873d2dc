// SPDX-License-Identifier: Apache-2.0
#include "chunked_bcast.hpp"

#include <signal.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "mpi_call.hpp"

namespace onecopy::mpi::detail {

void chunked_bcast(MPI_Comm comm, int root, std::byte* data, std::uint64_t size, std::uint64_t chunk,
                   const std::function<void(std::uint64_t)>& before_piece) {
  const std::uint64_t pieces = (size + chunk - 1) / chunk;
  for (std::uint64_t i = 0; i < pieces; ++i) {
    if (before_piece) before_piece(i);
    const std::uint64_t at = i * chunk;
    const auto n = static_cast<int>(std::min(chunk, size - at));
    const int rc = MPI_Bcast(data + at, n, MPI_BYTE, root, comm);
    if (rc != MPI_SUCCESS)
      check(rc, fmt::format("MPI_Bcast(piece {} of {}, {} bytes at offset {})", i + 1, pieces, n, at));
  }
}

void test_kill_point(std::uint64_t piece) noexcept {
  const char* spec = std::getenv("ONECOPY_MPI_TEST_KILL_AT");
  if (spec == nullptr) return;
  const std::string_view s(spec);
  const auto colon = s.find(':');
  if (colon == std::string_view::npos) return;
  int rank = -1;
  std::uint64_t at = 0;
  std::from_chars(s.data(), s.data() + colon, rank);
  std::from_chars(s.data() + colon + 1, s.data() + s.size(), at);
  int world_rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  if (world_rank == rank && piece == at) ::raise(SIGKILL);
}

}  // namespace onecopy::mpi::detail
