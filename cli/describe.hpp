// SPDX-License-Identifier: Apache-2.0
// How segments are shown as human text, shared by put, ls and stat (their JSON is the engine's
// one key table, segment_json.hpp).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "console.hpp"
#include "onecopy/engine/draft.hpp"
#include "onecopy/engine/segment_info.hpp"
#include "onecopy/engine/segment_json.hpp"

namespace onecopy::cli {

/// "bind:0 (asked: auto)": the placement a segment got and how it was chosen ("(as asked)"
/// when written as such; nothing more for segments that predate the record).
[[nodiscard]] std::string placement_text(const segment_info& info);
/// "2 MiB hugetlbfs" / "2 MiB THP (1022 MiB of 1 GiB)" / "4 KiB shm".
[[nodiscard]] std::string pages_text(const segment_info& info);
/// "node0 512 · node1 512" (pages per node), or "unknown".
[[nodiscard]] std::string histogram_text(const std::vector<node_pages>& histogram);
/// "f32[1024,768]".
[[nodiscard]] std::string shape_text(const tensor_entry& t);
/// "291 tensors (bf16 290, f32 1)".
[[nodiscard]] std::string tensor_summary(const std::vector<tensor_entry>& tensors);
/// One line per tensor — name, dtype[shape], size — in columns as wide as the longest entry
/// (names over 80 bytes overflow their column), each line starting with indent.
[[nodiscard]] std::string tensor_table(const std::vector<tensor_entry>& tensors, std::string_view indent = "  ");
/// put's diagnostics (the report's fallbacks and warnings, then extra warnings) as notes:
/// "onecopy put: fallback: …" / "onecopy put: warning: …" on stderr, each distinct line once
/// (replicas repeat theirs); nothing with -q. stdout stays the result.
void print_put_diagnostics(const create_report& report, const std::vector<std::string>& extra_warnings,
                           const console& out);
/// "1.23 GB/s" (decimal, as disks and networks are quoted), or "-" when seconds <= 0.
[[nodiscard]] std::string rate_text(std::uint64_t bytes, double seconds);

}  // namespace onecopy::cli
