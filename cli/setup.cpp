// SPDX-License-Identifier: Apache-2.0
#include "cli.hpp"

namespace onecopy::cli {

void add_setup(CLI::App& app, registry& r) {
  auto* sub = app.add_subcommand("setup", "(not yet built)");
  r.add(sub, [] { return 1; });
}

}  // namespace onecopy::cli
