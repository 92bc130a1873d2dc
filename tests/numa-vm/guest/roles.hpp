// SPDX-License-Identifier: Apache-2.0
// The other processes of the multi-process cases: this same program started with a role.
//   create DIR NAME PAGES PLACEMENT BYTES [NODE]
//       creates, fills and publishes a segment (on NODE's CPUs when given), then exits
//   read DIR NAME NODE FRAMES_FILE [SECONDS CONTROL_NODE]
//       runs on NODE's CPUs, attaches, reads every byte (checksum), and checks that its pages
//       are where the segment recorded and are the very frames listed. With SECONDS it keeps
//       reading that long, and also reads an anonymous buffer first touched on CONTROL_NODE:
//       where automatic NUMA balancing moves that buffer shows that it was at work.
//   read-replica DIR NAME NODE
//       runs on NODE's CPUs, attaches NAME (a replicated segment) without naming a node, and
//       checks it got NAME@nodeNODE with every page on NODE and a good checksum
//   create-gib NAME SEED
//       creates a 1 GiB segment with 1 GiB pages in gib_store(), fills it with the pattern of
//       SEED (0: leaves it zero) and publishes it (the crash case stops it on the way)
//   read-gib NAME SEED FIRST_FRAME
//       attaches NAME from gib_store() with verify, checks every byte against the pattern of
//       SEED, and that its data is one whole 1 GiB page starting at physical frame FIRST_FRAME
#pragma once

#include <string>
#include <vector>

namespace numa_vm {

/// Exit 0 on success, 1 with a printed reason otherwise.
[[nodiscard]] int run_creator(const std::vector<std::string>& args);
/// Exit 0 on success, 1 with a printed reason otherwise.
[[nodiscard]] int run_reader(const std::vector<std::string>& args);
/// Exit 0 on success, 1 with a printed reason otherwise.
[[nodiscard]] int run_replica_reader(const std::vector<std::string>& args);
/// Exit 0 on success, 1 with a printed reason otherwise.
[[nodiscard]] int run_gib_creator(const std::vector<std::string>& args);
/// Exit 0 on success, 1 with a printed reason otherwise.
[[nodiscard]] int run_gib_reader(const std::vector<std::string>& args);

}  // namespace numa_vm
