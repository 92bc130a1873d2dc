// SPDX-License-Identifier: Apache-2.0
// The `onecopy` command: each subcommand lives in its own file and registers itself here.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "console.hpp"

namespace onecopy::cli {

/// What a subcommand does once its arguments are parsed, saying what -q/-v let it say on out;
/// returns the exit code.
using action = std::function<int(const console& out)>;

/// The subcommands and their actions.
class registry {
 public:
  struct command {
    CLI::App* sub;
    action run;
    verbosity level = verbosity::normal;  ///< set by -q/-v while parsing
  };
  /// Registers sub and what it runs, and gives sub -q/--quiet and -v/--verbose.
  void add(CLI::App* sub, action run) {
    auto& c = commands_.emplace_back(command{sub, std::move(run)});
    add_verbosity_flags(sub, c.level);
  }
  [[nodiscard]] const std::deque<command>& commands() const { return commands_; }

 private:
  std::deque<command> commands_;  // a deque: the flags keep each level's address
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
