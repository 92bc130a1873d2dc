// SPDX-License-Identifier: Apache-2.0
// Internal. copies::replicate plugs into the engine's replicated segments: one file per NUMA
// node, "NAME@nodeN", made by one creator (create_options::replicate_on, from the topology
// work). Until the engine has that field this build reports replicate as unavailable.
#pragma once

#include <utility>
#include <vector>

namespace onecopy::mpi::detail {

/// True when this build's create_options can ask for replicas.
template <class Options>
constexpr bool engine_replicates = requires(Options o) { o.replicate_on; };

/// Asks opts for one replica per node in nodes. Returns false when the engine cannot.
template <class Options>
bool request_replicas(Options& opts, std::vector<int> nodes) {
  if constexpr (engine_replicates<Options>) {
    opts.replicate_on = std::move(nodes);
    return true;
  } else {
    (void)opts;
    (void)nodes;
    return false;
  }
}

}  // namespace onecopy::mpi::detail
