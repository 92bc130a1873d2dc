// SPDX-License-Identifier: Apache-2.0
// `onecopy put NAME` for tensor files: .safetensors, .npy, model directories and shard indexes,
// all loaded into one bundle segment (the engine's formats::load_into does the work).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "console.hpp"
#include "onecopy/engine/options.hpp"

namespace onecopy::cli {

/// True when the inputs are tensor files (by extension), a directory or a shard index — not
/// one raw file.
[[nodiscard]] bool is_tensor_input(const std::vector<std::string>& inputs);

/// Sets the placement in opts for a segment of bytes; false means plan only, create nothing.
using plan_placement = std::function<bool(std::uint64_t bytes, create_options& opts)>;

/// Loads inputs into segment name, prints what it did (text or JSON; diagnostics and details
/// on out); returns the exit code.
/// @throws what formats::plan_load and formats::load_into throw
int put_tensor_files(const std::string& name, const std::vector<std::string>& inputs,
                     create_options opts, bool json, const console& out, const plan_placement& place);

}  // namespace onecopy::cli
