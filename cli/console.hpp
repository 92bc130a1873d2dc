// SPDX-License-Identifier: Apache-2.0
// How much a command says besides its result: -q/--quiet and -v/--verbose, defined once here
// and given to every subcommand by the registry (cli.hpp), so they mean the same everywhere.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <CLI/CLI.hpp>

namespace onecopy {
class store;
}

namespace onecopy::cli {

/// -q: errors only on stderr (the result still on stdout); default: also notes; -v: also details.
enum class verbosity { quiet, normal, verbose };

/// Adds -q/--quiet and -v/--verbose (they exclude each other) to sub; parsing sets level.
void add_verbosity_flags(CLI::App* sub, verbosity& level);

/// A command's stderr besides its errors (main prints those, whatever the level): notes —
/// what the user should know, such as page-size fallbacks or files skipped — unless -q, and
/// details — what the store did, timings — only with -v. Each line reads
/// "onecopy <command>: <text>". The result goes to stdout, printed by the command itself.
class console {
 public:
  console(std::string command, verbosity level) : command_(std::move(command)), level_(level) {}

  [[nodiscard]] bool quiet() const noexcept { return level_ == verbosity::quiet; }
  [[nodiscard]] bool verbose() const noexcept { return level_ == verbosity::verbose; }

  /// One line on stderr, unless -q.
  void note(std::string_view text) const;
  /// One line on stderr, with -v only.
  void detail(std::string_view text) const;

 private:
  std::string command_;
  verbosity level_;
};

/// store::from_environment(), saying with -v which directories it is made of.
/// @throws what store::from_environment throws
[[nodiscard]] store open_store(const console& out);

}  // namespace onecopy::cli
