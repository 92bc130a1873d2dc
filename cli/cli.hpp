// SPDX-License-Identifier: Apache-2.0
// The `onecopy` command: each subcommand lives in its own file and registers itself here.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace onecopy::cli {

/// What a subcommand does once its arguments are parsed; returns the exit code.
using action = std::function<int()>;

/// The subcommands and their actions.
class registry {
 public:
  void add(CLI::App* sub, action run) { commands_.emplace_back(sub, std::move(run)); }
  [[nodiscard]] const std::vector<std::pair<CLI::App*, action>>& commands() const { return commands_; }

 private:
  std::vector<std::pair<CLI::App*, action>> commands_;
};

// One per file: cli/<name>.cpp.
void add_topo(CLI::App& app, registry& r);
void add_put(CLI::App& app, registry& r);
void add_ls(CLI::App& app, registry& r);
void add_stat(CLI::App& app, registry& r);
void add_verify(CLI::App& app, registry& r);
void add_rm(CLI::App& app, registry& r);
void add_gc(CLI::App& app, registry& r);
void add_setup(CLI::App& app, registry& r);
void add_demo(CLI::App& app, registry& r);
void add_serve(CLI::App& app, registry& r);

/// Prints j to stdout, indented, with a newline.
void print_json(const nlohmann::json& j);

/// A CLI11 validator/transformer for sizes like "1GiB" (stored as the original text).
[[nodiscard]] std::uint64_t size_argument(const std::string& text);

}  // namespace onecopy::cli
