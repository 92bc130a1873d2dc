// SPDX-License-Identifier: Apache-2.0
// onecopy verify NAME: recompute the checksum; exit 1 on a mismatch.
#include <chrono>

#include <fmt/format.h>

#include "cli.hpp"
#include "describe.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/units.hpp"

namespace onecopy::cli {
namespace {

int run_verify(const std::string& name, bool json, const console& out) {
  const store s = open_store(out);
  const segment seg = s.attach(name);
  const auto start = std::chrono::steady_clock::now();
  const auto sum = seg.compute_checksum();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool ok = sum == seg.info().checksum;
  out.detail(fmt::format("hashed {} at {:.2f} GB/s", seg.path().string(),
                         secs > 0 ? static_cast<double>(seg.info().data_size) / secs / 1e9 : 0.0));
  if (json) {
    print_json({{"name", seg.name()}, {"ok", ok}, {"expected", checksum_hex(seg.info().checksum)},
                {"computed", checksum_hex(sum)}, {"bytes", seg.info().data_size}, {"seconds", secs}});
  } else if (ok) {
    fmt::print("{}: ok, checksum {} over {} in {}\n", seg.name(), checksum_hex(sum),
               format_bytes(seg.info().data_size), format_seconds(secs));
  } else {
    fmt::print(stderr, "onecopy verify: {}: checksum mismatch: data hashes to {} but the header says {}\n",
               seg.name(), checksum_hex(sum), checksum_hex(seg.info().checksum));
  }
  return ok ? 0 : 1;
}

}  // namespace

void add_verify(CLI::App& app, registry& r) {
  auto name = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("verify", "Recompute a segment's checksum and compare");
  sub->add_option("NAME", *name, "Segment name")->required();
  sub->add_flag("--json", *json, "Print JSON");
  r.add(sub, [name, json](const console& out) { return run_verify(*name, *json, out); });
}

}  // namespace onecopy::cli
