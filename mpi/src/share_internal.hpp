// SPDX-License-Identifier: Apache-2.0
// Internal. Pieces of share() the C API reuses.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string_view>

#include "onecopy/mpi/source.hpp"

namespace onecopy::mpi::detail {

/// Collective: mine when nonzero, else the root's size (its buffer's, or its file's from the
/// offset; a nonzero size on the root wins). Agreed like a step of share().
/// @throws share_error on every rank when the root cannot tell (no such file, a loader, a bad root)
[[nodiscard]] std::uint64_t agreed_size(MPI_Comm user_comm, std::string_view name, const source& src,
                                        std::uint64_t mine);

}  // namespace onecopy::mpi::detail
