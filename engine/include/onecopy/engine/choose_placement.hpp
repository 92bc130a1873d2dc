// SPDX-License-Identifier: Apache-2.0
// From what a caller asks (--numa/--pages/--gpus/--cpus/--budget/--strict, Python's numa=/
// pages=/strict=, MPI's numa) to create_options: the one place where the planner's decision
// becomes the engine's options, for the CLI, Python and MPI alike.
#pragma once

#include <functional>
#include <optional>

#include "onecopy/engine/options.hpp"
#include "onecopy/topology/plan.hpp"
#include "onecopy/topology/topology.hpp"

namespace onecopy {

/// When choose_placement asks the planner.
enum class planning {
  when_needed,  ///< only for requests a written placement cannot express (see below)
  always,       ///< also for local, bind:N and interleave (to explain them: `put --explain`)
};

/// Fills opts.pages, opts.strict, opts.where, opts.replicate_on and opts.asked from request,
/// for a segment of request.size bytes. local, bind:N[,M] and interleave[:N,M] are taken as
/// written; auto, replicate[:N,M] and bind without nodes — and any request naming readers
/// (gpus, cpus) or a budget — are decided by plan() on the topology probe returns, which is
/// called only then (a live probe costs milliseconds). The engine still picks the pages from
/// its own backings, each fallback a reason, so opts.pages stays request.pages.
/// @returns the plan when the planner decided, std::nullopt otherwise
/// @throws usage_error for a bad request; out_of_memory_error when the copies cannot fit;
///         fallback_error when request.strict and the asked pages or policy are not possible
[[nodiscard]] std::optional<placement_plan> choose_placement(const plan_request& request, create_options& opts,
                                                             const std::function<topology()>& probe = topology::live,
                                                             planning when = planning::when_needed);

}  // namespace onecopy
