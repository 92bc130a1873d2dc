// SPDX-License-Identifier: Apache-2.0
// onecopy rm NAME...: unlink segments; processes that map them keep their mappings.
#include <fmt/format.h>

#include "cli.hpp"
#include "onecopy/engine/store.hpp"

namespace onecopy::cli {

void add_rm(CLI::App& app, registry& r) {
  auto names = std::make_shared<std::vector<std::string>>();
  auto* sub = app.add_subcommand("rm", "Remove segments (mappings that exist stay valid)");
  sub->add_option("NAME", *names, "Segment names")->required();
  r.add(sub, [names] {
    store s = store::from_environment();
    for (const auto& n : *names) s.remove(n);
    return 0;
  });
}

}  // namespace onecopy::cli
