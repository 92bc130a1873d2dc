// SPDX-License-Identifier: Apache-2.0
#include "cli.hpp"

namespace onecopy::cli {

void add_demo(CLI::App& app, registry& r) {
  auto* sub = app.add_subcommand("demo", "(not yet built)");
  r.add(sub, [] { return 1; });
}

}  // namespace onecopy::cli
