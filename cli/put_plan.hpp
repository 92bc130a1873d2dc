// SPDX-License-Identifier: Apache-2.0
// put's placement: --numa, --pages, --gpus, --cpus, --budget, --explain, parsed and handed to
// choose_placement (engine/choose_placement.hpp), which the Python package and MPI use too;
// kept out of put.cpp so the input formats and the placement evolve apart.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "onecopy/engine/draft.hpp"
#include "onecopy/engine/options.hpp"

namespace onecopy::cli {

/// The planner options put takes besides --numa, --pages and --strict.
struct put_plan_args {
  std::string gpus;
  std::string cpus;
  std::string budget;
  bool explain = false;
};

/// Adds --gpus, --cpus, --budget and --explain to put.
void add_put_plan_options(CLI::App* sub, put_plan_args& a);

/// What planning decided for put.
struct put_plan {
  bool create = true;                 ///< false: --explain, the plan was printed, create nothing
  std::optional<nlohmann::json> json;  ///< the plan, for put --json (when the planner ran)
};

/// Sets opts' placement from --numa, --pages and --strict through choose_placement (local,
/// bind:N and interleave as given; the planner for auto, replicate and whenever --gpus, --cpus,
/// --budget or --explain are used). Prints the plan and its reasons (text mode). bytes is the
/// segment's data size.
/// @throws usage_error for bad options; out_of_memory_error/fallback_error from the planner
[[nodiscard]] put_plan plan_put(std::string_view name, std::string_view numa, std::string_view pages,
                                bool strict, const put_plan_args& a, std::uint64_t bytes,
                                create_options& opts, bool json);

/// One line per other replica of a replicated put ("replica w@node1: …"), for text output.
[[nodiscard]] std::vector<std::string> replica_lines(const create_report& report);
/// The other replicas of a replicated put, for JSON output.
[[nodiscard]] nlohmann::json replicas_json(const create_report& report);

}  // namespace onecopy::cli
