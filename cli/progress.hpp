// SPDX-License-Identifier: Apache-2.0
// put's progress line on a terminal, fed by the engine's fill (create_options::on_fill).
#pragma once

#include <cstdint>
#include <string>

#include "console.hpp"
#include "onecopy/engine/options.hpp"
#include "onecopy/units.hpp"

namespace onecopy::cli {

/// Fills of at least this many bytes show progress from their first piece; smaller ones only
/// once they have taken progress_after_seconds (a slow disk), so quick puts stay silent.
inline constexpr std::uint64_t progress_after_bytes = 128 * MiB;
inline constexpr double progress_after_seconds = 1.0;

/// A progress line on stderr — "put NAME: 1.5 GiB of 4 GiB (37%), 1.62 GB/s" — redrawn in place
/// at most ten times a second and erased when the fill ends. Empty (no progress asked for)
/// when stderr is not a terminal or with -q.
[[nodiscard]] fill_progress terminal_progress(const console& out, std::string what);

}  // namespace onecopy::cli
