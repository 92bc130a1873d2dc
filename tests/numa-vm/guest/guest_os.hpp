// SPDX-License-Identifier: Apache-2.0
// What the guest tests need from the guest kernel beyond the engine: per-node huge-page pools
// and memory counters, physical frame numbers (is it the same page?), pinning to a node,
// spawning this program in another role, and leaving QEMU through isa-debug-exit.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "onecopy/engine/segment_info.hpp"

namespace numa_vm {

/// 2 MiB, the huge-page size the guest tests use.
inline constexpr std::uint64_t huge_2m = 2 * 1024 * 1024;

/// Free 2 MiB pages in node's pool.
[[nodiscard]] std::uint64_t free_huge_pages(int node);
/// Sets node's 2 MiB pool to pages (the guest is ours: absolute values are fine here).
/// @throws std::runtime_error when the kernel gives fewer pages
void set_huge_pool(int node, std::uint64_t pages);
/// "Shmem" of node's meminfo in bytes: tmpfs pages (4 KiB and THP) resident on node.
[[nodiscard]] std::uint64_t node_shmem_bytes(int node);

/// The physical frame of every 4 KiB page of range (/proc/self/pagemap; root only); 0 for a
/// page that is not mapped. Two processes that map the same page see the same frame.
[[nodiscard]] std::vector<std::uint64_t> frames_of(std::span<const std::byte> range);
/// Pages of range per node, one query per 4 KiB page (move_pages); unmapped pages are skipped.
/// For memory that is not a segment (segments have node_histogram()).
[[nodiscard]] std::vector<onecopy::node_pages> nodes_of(std::span<const std::byte> range);

/// Writes / reads one frame number per line.
void write_frames(const std::filesystem::path& file, const std::vector<std::uint64_t>& frames);
[[nodiscard]] std::vector<std::uint64_t> read_frames(const std::filesystem::path& file);

/// Restricts the calling thread to node's CPUs. @throws std::runtime_error when it has none
void pin_to_node(int node);

/// Runs this program with args and waits. Returns its exit code (128 + signal when killed).
[[nodiscard]] int spawn_self(const std::vector<std::string>& args);
/// Starts this program with args and, added to this process's environment, env ("NAME=value"
/// each). Returns its pid.
[[nodiscard]] pid_t start_self(const std::vector<std::string>& args, const std::vector<std::string>& env = {});
/// Waits until the child pid stops (SIGSTOP: the engine's ONECOPY_TEST_PAUSE_AT) or exits.
/// Returns true when it stopped; false (child reaped) when it exited or was killed first.
[[nodiscard]] bool wait_until_stopped(pid_t pid);

/// Waits for the child pid. Returns its exit code (128 + signal when killed).
[[nodiscard]] int wait_for_exit(pid_t pid);

/// An empty directory at path, mode 0700 as a store needs (whatever was there is removed first).
std::filesystem::path fresh_dir(const std::filesystem::path& path);

/// Waits for the console to send everything, then writes code to QEMU's isa-debug-exit port
/// (QEMU exits with (code << 1) | 1). Returns only when that did not work.
void qemu_exit(int code);

}  // namespace numa_vm
