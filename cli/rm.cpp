// SPDX-License-Identifier: Apache-2.0
// onecopy rm NAME...: unlink segments; processes that map them keep their mappings. Every name
// is tried: each failure is reported, and the exit code is 1 if any failed.
#include <cerrno>
#include <cstdio>

#include <fmt/format.h>

#include "cli.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"

namespace onecopy::cli {
namespace {

struct rm_args {
  std::vector<std::string> names;
  bool force = false;
};

int run_rm(const rm_args& a, const console& out) {
  store s = open_store(out);
  int code = 0;
  for (const auto& n : a.names) {
    try {
      s.remove(n);
      out.detail(fmt::format("removed {}", n));
    } catch (const os_error& e) {
      if (a.force && e.err() == ENOENT) {
        out.detail(fmt::format("{}: not there (--force)", n));
        continue;
      }
      std::fprintf(stderr, "onecopy rm: %s\n", e.what());
      code = 1;
    } catch (const std::exception& e) {  // a bad name: said, and the others still go
      std::fprintf(stderr, "onecopy rm: %s\n", e.what());
      code = 1;
    }
  }
  return code;
}

}  // namespace

void add_rm(CLI::App& app, registry& r) {
  auto a = std::make_shared<rm_args>();
  auto* sub = app.add_subcommand("rm", "Remove segments (mappings that exist stay valid)");
  sub->add_option("NAME", a->names, "Segment names; each is removed, failures are reported "
                  "(exit 1 if any)")->required();
  sub->add_flag("-f,--force", a->force, "Ignore names that do not exist");
  r.add(sub, [a](const console& out) { return run_rm(*a, out); });
}

}  // namespace onecopy::cli
