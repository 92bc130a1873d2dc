// SPDX-License-Identifier: Apache-2.0
// How a topology and a placement plan are shown: the text of `onecopy topo` (fits 100 columns)
// and its JSON schema "onecopy.topo/1" (documented in README.md). Shared by topo and put.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "onecopy/topology/plan.hpp"
#include "onecopy/topology/topology.hpp"

namespace onecopy::cli {

/// Bytes of one segment file on one node (from the histogram recorded at publish).
struct resident_segment {
  std::string name;  ///< file name: "weights" or "weights@node1"
  int node = 0;
  std::uint64_t bytes = 0;
};

/// Header, NUMA node table, distances, GPUs and (live) huge-page mounts.
[[nodiscard]] std::string topology_text(const topology& t);
/// The segments resident on each node; store_dir names where they were found.
[[nodiscard]] std::string segments_text(const std::vector<resident_segment>& segments,
                                        std::string_view store_dir);
/// A 5-10 line overview (what `make run` prints before the demo).
[[nodiscard]] std::string summary_text(const topology& t, const std::vector<resident_segment>& segments,
                                       std::string_view store_dir);
/// The plan: what it asked, what it decided, the copies, and one line per reason.
/// name is shown in replica file names (NAME@nodeN).
[[nodiscard]] std::string plan_text(const placement_plan& p, const plan_request& r, std::string_view name);

/// The topology as JSON (schema "onecopy.topo/1").
[[nodiscard]] nlohmann::json topology_json(const topology& t);
/// The plan as JSON (the "plan" member of the topo schema; also put --explain --json).
[[nodiscard]] nlohmann::json plan_json(const placement_plan& p, const plan_request& r);
/// The segments per node as JSON.
[[nodiscard]] nlohmann::json segments_json(const std::vector<resident_segment>& segments);

}  // namespace onecopy::cli
