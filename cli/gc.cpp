// SPDX-License-Identifier: Apache-2.0
// onecopy gc: remove what dead creators left and segments marked --when-unused nobody maps.
#include <fmt/format.h>

#include "cli.hpp"
#include "onecopy/engine/store.hpp"

namespace onecopy::cli {

void add_gc(CLI::App& app, registry& r) {
  auto json = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("gc", "Remove orphaned temp files, unused --when-unused segments and stale locks");
  sub->add_flag("--json", *json, "Print JSON");
  r.add(sub, [json](const console& out) {
    store s = open_store(out);
    const auto report = s.gc();
    if (*json) {
      nlohmann::json j;
      j["removed_temp_files"] = nlohmann::json::array();
      for (const auto& p : report.removed_temp_files) j["removed_temp_files"].push_back(p.string());
      j["removed_unused_segments"] = report.removed_unused_segments;
      j["removed_lock_files"] = nlohmann::json::array();
      for (const auto& p : report.removed_lock_files) j["removed_lock_files"].push_back(p.string());
      if (!report.skipped.empty()) {
        j["skipped"] = nlohmann::json::array();
        for (const auto& p : report.skipped) j["skipped"].push_back({{"path", p.path.string()}, {"why", p.what}});
      }
      print_json(j);
      return 0;
    }
    for (const auto& p : report.removed_temp_files) fmt::print("removed temp file {}\n", p.string());
    for (const auto& n : report.removed_unused_segments) fmt::print("removed unused segment {}\n", n);
    // Planted files (a FIFO, symlink… where a segment or lock belongs): left alone, reported.
    for (const auto& p : report.skipped) out.note(fmt::format("skipped {}: {}", p.path.string(), p.what));
    for (const auto& p : report.removed_lock_files) out.detail(fmt::format("removed lock file {}", p.string()));
    fmt::print("gc: {} temp file(s), {} unused segment(s), {} lock file(s) removed\n",
               report.removed_temp_files.size(), report.removed_unused_segments.size(),
               report.removed_lock_files.size());
    return 0;
  });
}

}  // namespace onecopy::cli
