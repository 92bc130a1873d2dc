// SPDX-License-Identifier: Apache-2.0
#include "console.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "onecopy/engine/store.hpp"
#include "onecopy/units.hpp"

namespace onecopy::cli {

void add_verbosity_flags(CLI::App* sub, verbosity& level) {
  auto* quiet = sub->add_flag_callback("-q,--quiet", [&level] { level = verbosity::quiet; },
                                       "Print only errors on stderr (the result still goes to stdout)");
  auto* verbose = sub->add_flag_callback("-v,--verbose", [&level] { level = verbosity::verbose; },
                                         "Print more on stderr: what the store did, timings");
  quiet->excludes(verbose);
}

void console::note(std::string_view text) const {
  if (!quiet()) fmt::print(stderr, "onecopy {}: {}\n", command_, text);
}

void console::detail(std::string_view text) const {
  if (verbose()) fmt::print(stderr, "onecopy {}: {}\n", command_, text);
}

store open_store(const console& out) {
  store s = store::from_environment();
  if (out.verbose())
    for (const auto& b : s.backings())
      out.detail(fmt::format("store {} ({}, {} pages)", b.dir.string(), to_string(b.kind), format_page_size(b.page_size)));
  return s;
}

}  // namespace onecopy::cli
