// SPDX-License-Identifier: Apache-2.0
// The one key table of a segment as JSON: `onecopy put/ls/stat --json` print it and Python's
// info dicts are made from it. Documented key by key in docs/segment-json.md; a change of a key
// or its type bumps segment_json_schema.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "onecopy/engine/segment_info.hpp"

namespace onecopy {

/// The version of the key table, the "schema" key of every segment JSON object. 1: the keys of
/// `--json` before it was versioned (no "schema" key); 2: one table for the CLI and Python,
/// with "schema" and "placement_asked".
inline constexpr int segment_json_schema = 2;

/// A segment's header and tensor table as JSON: sizes in bytes, times in Unix ns (and ISO text),
/// the checksum as 16 hex digits (exact in any JSON reader, as `onecopy stat` prints it).
[[nodiscard]] nlohmann::json segment_json(const segment_info& info);

/// 16 lowercase hex digits.
[[nodiscard]] std::string checksum_hex(std::uint64_t checksum);

/// ISO-8601 UTC ("2026-01-02T03:04:05Z") from Unix nanoseconds.
[[nodiscard]] std::string utc_text(std::int64_t ns);

}  // namespace onecopy
