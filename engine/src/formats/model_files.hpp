// SPDX-License-Identifier: Apache-2.0
// Internal. What a load keeps besides tensors: a model directory's small files (config,
// tokenizer, …) and the fingerprint of its sources.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "onecopy/engine/formats/load.hpp"

namespace onecopy::detail {

/// The regular files under dir (up to 3 levels) that keep_small_files keeps: not hidden, not
/// tensor files or indexes, not weights in other formats, at most max_kept_file bytes; sorted.
/// Adds a note per skipped large file.
/// @throws os_error naming a directory that cannot be read
[[nodiscard]] std::vector<formats::kept_file> find_kept_files(const std::filesystem::path& dir,
                                                     std::vector<std::string>& notes);

/// The fingerprint of a plan's sources as compact JSON: {"files": [{"name", "bytes",
/// "header_xxh3"}], "kept": [{"name", "bytes", "xxh3"}]}. Reads headers and kept files only.
/// @throws os_error naming a file that cannot be read
[[nodiscard]] std::string source_fingerprint(const formats::load_plan& plan);

}  // namespace onecopy::detail
