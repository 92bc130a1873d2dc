// SPDX-License-Identifier: Apache-2.0
// The other processes of the multi-process cases: this same program started with a role.
//   create DIR NAME PAGES PLACEMENT BYTES   creates, fills and publishes a segment, then exits
//   read DIR NAME NODE FRAMES_FILE          runs on NODE's CPUs, attaches, reads every byte
//                                           (checksum), and checks that its pages are where the
//                                           segment recorded and are the very frames listed
#pragma once

#include <string>
#include <vector>

namespace numa_vm {

/// Exit 0 on success, 1 with a printed reason otherwise.
[[nodiscard]] int run_creator(const std::vector<std::string>& args);
/// Exit 0 on success, 1 with a printed reason otherwise.
[[nodiscard]] int run_reader(const std::vector<std::string>& args);

}  // namespace numa_vm
