// SPDX-License-Identifier: Apache-2.0
// Entry point: parse, run the chosen subcommand, turn exceptions into the documented messages
// and exit codes (0 ok, 1 failure, 2 usage).
#include <chrono>
#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "cli.hpp"
#include "onecopy/error.hpp"
#include "onecopy/units.hpp"

namespace onecopy::cli {

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << '\n'; }

}  // namespace onecopy::cli

int main(int argc, char** argv) {
  using namespace onecopy;
  CLI::App app{"onecopy: one physical copy of a large read-only array per host, shared by every "
               "process and GPU on it."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "onecopy 0.1.0");
  app.footer("Environment: ONECOPY_DIR (use one directory as the store), ONECOPY_CONF (config "
             "file, default /etc/onecopy.conf), ONECOPY_SOCKET (serve socket for clients), ONECOPY_GPU=off.\nEvery command takes -q (only errors on stderr) and -v (more detail).\nRun 'onecopy <command> --help' for a command's options.");
  cli::registry commands;
  cli::add_topo(app, commands);
  cli::add_put(app, commands);
  cli::add_ls(app, commands);
  cli::add_stat(app, commands);
  cli::add_verify(app, commands);
  cli::add_rm(app, commands);
  cli::add_gc(app, commands);
  cli::add_setup(app, commands);
  cli::add_demo(app, commands);
  cli::add_serve(app, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // help to stdout, exit 0
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string where = "onecopy";
    for (const auto* sub : app.get_subcommands()) where += " " + sub->get_name();
    std::fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", where.c_str(), e.what(), where.c_str());
    return 2;
  }
  for (const auto& [sub, run, level] : commands.commands()) {
    if (!sub->parsed()) continue;
    const std::string where = "onecopy " + sub->get_name();
    const cli::console out(sub->get_name(), level);
    try {
      const auto start = std::chrono::steady_clock::now();
      const int code = run(out);
      out.detail(fmt::format("done in {} (exit {})",
                             format_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()),
                             code));
      return code;
    } catch (const usage_error& e) {
      std::fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", where.c_str(), e.what(), where.c_str());
      return 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", where.c_str(), e.what());
      return 1;
    }
  }
  return 2;
}
