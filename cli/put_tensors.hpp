// SPDX-License-Identifier: Apache-2.0
// `onecopy put NAME` for tensor files: .safetensors, .npy, model directories and shard indexes,
// all loaded into one bundle segment (the engine's formats::load_into does the work).
#pragma once

#include <string>
#include <vector>

#include "onecopy/engine/options.hpp"

namespace onecopy::cli {

/// True when the inputs are tensor files (by extension), a directory or a shard index — not
/// one raw file.
[[nodiscard]] bool is_tensor_input(const std::vector<std::string>& inputs);

/// Loads inputs into segment name, prints what it did (text or JSON); returns the exit code.
/// @throws what formats::plan_load and formats::load_into throw
int put_tensor_files(const std::string& name, const std::vector<std::string>& inputs,
                     const create_options& opts, bool json);

}  // namespace onecopy::cli
