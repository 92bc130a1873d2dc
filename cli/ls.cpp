// SPDX-License-Identifier: Apache-2.0
// onecopy ls: the published segments, one line each.
#include <fmt/format.h>

#include "cli.hpp"
#include "describe.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/units.hpp"

namespace onecopy::cli {
namespace {

int run_ls(bool json, const console& out) {
  const store s = open_store(out);
  const auto entries = s.list();
  // Planted files are left out of the list and named on stderr, so one cannot hide silently.
  for (const auto& p : s.problems())
    if (p.foreign) out.note(fmt::format("skipped {}: {}", p.path.string(), p.what));
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& e : entries) {
      auto j = segment_json(e.info);
      j["name"] = e.name;
      j["path"] = e.path.string();
      j["mapped_by"] = e.mapped_by;
      list.push_back(std::move(j));
    }
    print_json(list);
    return 0;
  }
  if (entries.empty()) {
    fmt::print("no segments\n");
    return 0;
  }
  fmt::print("{:<28} {:>10} {:>8} {:<16} {:<26} {:>7}\n", "NAME", "BYTES", "TENSORS", "PAGES", "PLACEMENT", "MAPPED");
  for (const auto& e : entries)
    fmt::print("{:<28} {:>10} {:>8} {:<16} {:<26} {:>7}\n", e.name, format_bytes(e.info.data_size),
               e.info.bundle ? std::to_string(e.info.tensors.size()) : "-",
               fmt::format("{} {}", format_page_size(e.info.page_size), to_string(e.info.backing)),
               placement_text(e.info), e.mapped_by.size());
  return 0;
}

}  // namespace

void add_ls(CLI::App& app, registry& r) {
  auto json = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("ls", "List published segments");
  sub->add_flag("--json", *json, "Print a JSON array");
  r.add(sub, [json](const console& out) { return run_ls(*json, out); });
}

}  // namespace onecopy::cli
