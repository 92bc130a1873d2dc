// SPDX-License-Identifier: Apache-2.0
// Building blocks of the placement cases: where the guest's stores are, making a filled
// segment, and judging a move_pages histogram against a policy.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"
#include "onecopy/engine/store.hpp"

namespace numa_vm {

/// Mounts made by the guest's /init (see init.sh).
inline const std::filesystem::path shm_mount = "/dev/shm";
inline const std::filesystem::path hugetlbfs_mount = "/mnt/huge-2M";  // pagesize=2M
inline const std::filesystem::path thp_mount = "/mnt/thp";            // tmpfs huge=within_size

/// "node0=4097 node1=4097", or "(none)".
[[nodiscard]] std::string histogram_text(const std::vector<onecopy::node_pages>& h);
/// Sum of the pages of a histogram.
[[nodiscard]] std::uint64_t total_pages(const std::vector<onecopy::node_pages>& h);
/// Pages of h on node.
[[nodiscard]] std::uint64_t pages_on(const std::vector<onecopy::node_pages>& h, int node);

/// Writes the test pattern (one word per 4 KiB page, from seed and offset) into bytes.
void fill_pattern(std::span<std::byte> bytes, std::uint64_t seed);
/// Checks every byte of bytes (zero-filled, then filled with fill_pattern(seed)): the offset
/// of the first 8-byte word that differs, or bytes.size() when all match.
[[nodiscard]] std::uint64_t first_pattern_mismatch(std::span<const std::byte> bytes, std::uint64_t seed);

/// A published segment and what creating it reported.
struct made_segment {
  onecopy::segment seg;
  onecopy::create_report report;
};
/// Creates name (bytes long) with opts, fills it with the pattern and publishes it.
[[nodiscard]] made_segment make_segment(onecopy::store& s, const std::string& name, std::uint64_t bytes,
                                        const onecopy::create_options& opts, std::uint64_t seed = 1);

/// Checks that h holds total pages spread as where says: bind → only on where.nodes (exactly
/// those pages when one node); interleave → total/n or total/n+1 on each of where.nodes, none
/// elsewhere. Prints h under label.
void expect_spread(check& ck, std::string_view label, const std::vector<onecopy::node_pages>& h,
                   const onecopy::placement& where, std::uint64_t total);

/// Prints and checks a fresh segment: the report (backing, page size, placement), the histogram
/// recorded at create (info().histogram, one entry per page of the whole file) and the live
/// node_histogram() of the creator's mapping, which must agree with it.
void expect_placed(check& ck, const made_segment& m, onecopy::backing_kind backing, std::uint64_t page,
                   const onecopy::placement& where);

}  // namespace numa_vm
