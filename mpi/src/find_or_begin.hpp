// SPDX-License-Identifier: Apache-2.0
// Internal. A leader's first step: the published segment if its store has it, else a draft
// that holds the name's lock (the engine's create-once protocol, split in two so the fill can
// be a collective broadcast that every leader joins knowing who creates).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "onecopy/engine/store.hpp"

namespace onecopy::mpi::detail {

struct found_or_draft {
  std::optional<segment> found;  ///< published already (a rerun, or another job made it)
  std::optional<draft> made;     ///< ours to fill and publish
};

/// Attaches name if it is published; else creates a draft. While another process holds the
/// name's lock (it is creating it), waits for it — up to wait — and attaches what it publishes,
/// or takes over if it died.
/// @throws timeout_error after wait; whatever store::create and store::attach throw
[[nodiscard]] found_or_draft find_or_begin(store& s, std::string_view name, const layout& l,
                                           const create_options& opts, std::chrono::milliseconds wait);

/// "" when seg has layout l; else what differs, e.g. "it holds 4 MiB, share asked for 8 MiB".
[[nodiscard]] std::string layout_mismatch(const segment& seg, const layout& l);

}  // namespace onecopy::mpi::detail
