// SPDX-License-Identifier: Apache-2.0
// onecopy stat NAME: everything about one segment, including who maps it now.
#include <fmt/format.h>

#include "cli.hpp"
#include "describe.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/units.hpp"

namespace onecopy::cli {
namespace {

int run_stat(const std::string& name, bool json, int node, const console& out) {
  const store s = open_store(out);
  attach_options how;
  how.node = node;
  const segment seg = s.attach(name, how);
  const auto& info = seg.info();
  auto mapped = store::pids_mapping(seg.path());
  // A replicated segment: every replica file (the one shown above is this node's).
  std::vector<segment_entry> replicas;
  for (auto& e : s.list())
    if (e.replica_of == name) replicas.push_back(std::move(e));
  std::erase(mapped, ::getpid());  // not ourselves: we only mapped it to read the header
  if (json) {
    auto j = segment_json(info);
    j["name"] = seg.name();
    j["path"] = seg.path().string();
    j["mapped_by"] = mapped;
    j["resident_histogram"] = nlohmann::json::array();
    for (const auto& h : seg.node_histogram()) j["resident_histogram"].push_back({{"node", h.node}, {"pages", h.pages}});
    // Only for a replicated segment: one entry per replica file.
    for (const auto& e : replicas) {
      auto r = segment_json(e.info);
      r["name"] = e.name;
      r["path"] = e.path.string();
      r["replica_node"] = e.replica_node;
      r["mapped_by"] = e.mapped_by;
      j["replicas"].push_back(std::move(r));
    }
    print_json(j);
    return 0;
  }
  fmt::print("name       {}\n", seg.name());
  fmt::print("path       {}\n", seg.path().string());
  fmt::print("bytes      {} ({} data, file {})\n", info.data_size, format_bytes(info.data_size), format_bytes(info.file_size));
  fmt::print("pages      {}\n", pages_text(info));
  fmt::print("placement  {}; pages per node at publish: {}\n", placement_text(info), histogram_text(info.histogram));
  fmt::print("checksum   {} (xxh3-64 over 16 MiB chunks)\n", checksum_hex(info.checksum));
  fmt::print("created    {} by pid {} (uid {}) on {}\n", utc_text(info.created_ns), info.creator_pid,
             info.creator_uid, info.creator_host);
  if (info.remove_when_unused) fmt::print("lifetime   removed by 'onecopy gc' once unused\n");
  if (!info.metadata.empty()) fmt::print("metadata   {}\n", info.metadata.size() > 200 ? info.metadata.substr(0, 200) + "…" : info.metadata);
  std::string pids;
  for (int p : mapped) pids += (pids.empty() ? "" : " ") + std::to_string(p);
  fmt::print("mapped by  {}\n", pids.empty() ? "no process" : pids);
  if (!replicas.empty()) {
    fmt::print("replicas   {} (one file per node; attach takes the caller's node's, 'stat --node N' shows another)\n",
               replicas.size());
    for (auto& e : replicas) {
      std::erase(e.mapped_by, ::getpid());
      fmt::print("  {:<24} {:<16} pages per node {}; mapped by {}\n", e.name, pages_text(e.info),
                 histogram_text(e.info.histogram), e.mapped_by.empty() ? std::string("no process") : fmt::format("{} processes", e.mapped_by.size()));
    }
  }
  if (info.bundle) {
    fmt::print("tensors    {}\n{}", tensor_summary(info.tensors), tensor_table(info.tensors));
  } else {
    fmt::print("array      {}\n", shape_text(info.tensors.front()));
  }
  return 0;
}

}  // namespace

void add_stat(CLI::App& app, registry& r) {
  auto name = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto node = std::make_shared<int>(-1);
  auto* sub = app.add_subcommand("stat", "Show a segment's layout, pages, placement, checksum and users");
  sub->add_option("NAME", *name, "Segment name")->required();
  sub->add_flag("--json", *json, "Print JSON");
  sub->add_option("--node", *node, "For a replicated segment: show the replica of node N (default: this node's)");
  r.add(sub, [name, json, node](const console& out) { return run_stat(*name, *json, *node, out); });
}

}  // namespace onecopy::cli
