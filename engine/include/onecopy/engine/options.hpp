// SPDX-License-Identifier: Apache-2.0
// Typed options for creating and attaching segments: page size, NUMA placement, lifetime. The
// placement vocabulary (page_size, numa_policy, placement) is topology's; onecopy::place
// (placement.hpp) fills these from a request the planner may decide.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "onecopy/topology/placement.hpp"

namespace onecopy {

/// How far a fill from files has come (draft::read_from_file, formats::fill): bytes filled so
/// far and the fill's total. Called from the filling threads, one call at a time, after pieces
/// of 8 or 16 MiB; a thread never waits for another's call (a piece that lands meanwhile is
/// counted by the next one), and the last call has done == total. It must not throw.
using fill_progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

/// How to create a segment.
struct create_options {
  page_size pages = page_size::automatic;
  bool strict = false;          ///< a page-size fallback is an error instead of a reason line
  placement where;              ///< local, bind or interleave: applied before the first page exists
  bool replace = false;         ///< publish over an existing segment of the same name
  bool remove_when_unused = false;  ///< `gc` removes it once no process maps it
  std::string metadata;         ///< free text kept in the segment (e.g. safetensors __metadata__)
  unsigned threads = 0;         ///< populate/checksum/fill threads; 0 = one per usable CPU
  /// Replicate: one file per listed node, "NAME@nodeN", each bound to its node (where must then
  /// be none). The draft's bytes are the first node's replica; publish() copies them into the
  /// others. Readers attach the replica of their node. Empty: one file, "NAME".
  std::vector<int> replicate_on;
  /// Told after each piece of a fill from files (e.g. to draw a progress line); empty: nobody.
  fill_progress on_fill;
  /// The policy the caller asked for (auto, replicate, bind, …), recorded in the segment so
  /// `ls` and `stat` say how its placement was chosen. std::nullopt: where's own policy (or
  /// replicate, with replicate_on). choose_placement (choose_placement.hpp) sets it.
  std::optional<numa_policy> asked;
};

/// How to attach a segment.
struct attach_options {
  bool populate = false;  ///< prefault the whole mapping (MADV_POPULATE_READ) before returning
  bool verify = false;    ///< recompute the checksum and throw on mismatch
  int node = -1;          ///< for replicated segments: the replica to take (-1: caller's node)
  /// Keep the segment file open (segment::fd()) for passing it to other processes. Off by
  /// default: a mapping needs no descriptor, so a process can attach far more segments than
  /// RLIMIT_NOFILE allows files open.
  bool keep_fd = false;
};

/// Default time open_or_create waits for another process that is creating the same name.
inline constexpr std::chrono::milliseconds default_wait{std::chrono::minutes(10)};

}  // namespace onecopy
