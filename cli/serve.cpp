// SPDX-License-Identifier: Apache-2.0
// onecopy serve: run the host's owner process (serve/include/onecopy/serve/server.hpp), or
// with --status ask a running one what it holds.
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "cli.hpp"
#include "console.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/serve/client.hpp"
#include "onecopy/serve/server.hpp"
#include "onecopy/units.hpp"

namespace onecopy::cli {
namespace {

struct serve_args {
  std::string socket;
  bool status = false;
  bool json = false;
  std::string seal;    // ask the running server to hold this segment sealed
  std::string unseal;  // ask it to drop its sealed copy
  bool keep_store_file = false;
};

int run_seal(const serve_args& a) {
  auto c = serve::client::connect(a.socket);
  const auto r = a.seal.empty() ? c.unseal(a.unseal) : c.seal(a.seal, {.keep_store_file = a.keep_store_file});
  if (a.json) {
    print_json(r);
    return 0;
  }
  const std::string name = r.value("segment", "");
  if (!a.unseal.empty()) {
    fmt::print("'{}': the server no longer holds a sealed copy (readers keep theirs)\n", name);
    return 0;
  }
  fmt::print("'{}' generation {}: sealed copy of {} held by onecopy serve pid {} (sealed against shrink, grow, "
             "write)\n", name, r.value("generation", 0), format_bytes(r.value("file_size", std::uint64_t{0})),
             c.server_info().value("pid", 0));
  if (r.value("store_file_removed", false))
    fmt::print("store file removed: the sealed copy is the one copy, attached through the server only "
               "(onecopy serve --unseal {} drops it)\n", name);
  else
    fmt::print("store file kept: two copies in memory until one goes\n");
  return 0;
}

int run_status(const serve_args& a) {
  auto c = serve::client::connect(a.socket);
  const auto st = c.status();
  if (a.json) {
    print_json(st);
    return 0;
  }
  fmt::print("server pid {} on {}\n", st.value("pid", 0), st.value("socket", ""));
  for (const auto& conn : st["connections"]) {
    fmt::print("  client pid {} uid {}: {} lease{}\n", conn.value("pid", 0), conn.value("uid", 0),
               conn["leases"].size(), conn["leases"].size() == 1 ? "" : "s");
    for (const auto& l : conn["leases"])
      fmt::print("    lease {} {} '{}' generation {}{}\n", l.value("id", 0), l.value("kind", ""), l.value("segment", ""),
                 l.value("generation", 0), l.value("device", "").empty() ? "" : " on " + l.value("device", ""));
  }
  for (const auto& e : st["segments"]) {
    fmt::print("  segment '{}' generation {}{}{}: {} lease{}, {} device cop{}\n", e.value("name", ""),
               e.value("generation", 0), e.value("sealed", false) ? " (sealed memfd)" : "",
               e.value("current", true) ? "" : " (replaced)", e.value("leases", 0),
               e.value("leases", 0) == 1 ? "" : "s", e["device_copies"].size(),
               e["device_copies"].size() == 1 ? "y" : "ies");
    if (const auto& reg = e["registration"]; reg.is_object())
      fmt::print("    registration {} in {:.3f} s ({} chunk{}): {}\n", reg.value("mode", "?"), reg.value("seconds", 0.0),
                 reg.value("chunks", 0), reg.value("chunks", 0) == 1 ? "" : "s", reg.value("reason", ""));
    for (const auto& copy : e["device_copies"]) {
      fmt::print("    device copy on {} by {}\n", copy.value("device", "?"), copy.value("method", "?"));
      for (const auto& n : copy.value("notes", nlohmann::json::array())) fmt::print("      note: {}\n", n.get<std::string>());
    }
  }
  // The server's GPUs that its kernels cannot run on (its binary may not be ours).
  if (st.contains("gpu"))
    for (const auto& d : st["gpu"].value("devices", nlohmann::json::array()))
      if (!d["kernel_image"].value("runs", true))
        fmt::print("  warning: cuda:{} {}: {}\n", d.value("ordinal", 0), d.value("name", ""), d["kernel_image"].value("how", ""));
  if (st.value("stopping", false)) fmt::print("  stopping: waiting for legacy-IPC importers to close\n");
  return 0;
}

int run_serve(const serve_args& a, const console& out) {
  if (a.status) return run_status(a);
  if (!a.seal.empty() || !a.unseal.empty()) return run_seal(a);
  // The GPU state in one line; a host without CUDA is served all the same (host segments).
  const auto& gpu = gpu::probe();
  if (gpu.available)
    for (const auto& line : gpu::describe(gpu)) out.note(line);
  else
    out.note(fmt::format("{}; serving host segments only", gpu.reason));
  serve::server_options opts;
  opts.socket = a.socket;
  opts.handle_signals = true;
  opts.verbose = out.verbose();  // one line per connection and request
  serve::server srv(open_store(out), opts);
  // One line on stdout when ready: scripts and tests wait for it.
  fmt::print("onecopy serve: listening on {} (pid {})\n", srv.socket_path().string(), ::getpid());
  std::fflush(stdout);
  srv.run();
  return 0;
}

}  // namespace

void add_serve(CLI::App& app, registry& r) {
  auto a = std::make_shared<serve_args>();
  auto* sub = app.add_subcommand("serve", "Run the host's owner process: hand out segments (host fds, GPU copies) "
                                          "over a Unix socket; stops on SIGINT/SIGTERM");
  sub->add_option("--socket", a->socket, "Socket path (default: <store>/.locks/serve.sock; clients: ONECOPY_SOCKET)");
  sub->add_flag("--status", a->status, "Ask the running server for its clients, leases and device copies");
  auto* seal = sub->add_option("--seal", a->seal, "Ask the running server to copy segment NAME into a sealed memfd and "
                                                  "serve that (readers survive truncation); removes the store file");
  sub->add_flag("--keep-store-file", a->keep_store_file, "With --seal: keep the store file too (two copies)")->needs(seal);
  auto* unseal = sub->add_option("--unseal", a->unseal, "Ask the running server to drop its sealed copy of NAME");
  seal->excludes(unseal);
  sub->add_flag("--json", a->json, "With --status, --seal or --unseal: print JSON");
  r.add(sub, [a](const console& out) { return run_serve(*a, out); });
}

}  // namespace onecopy::cli
