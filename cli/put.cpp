// SPDX-License-Identifier: Apache-2.0
// onecopy put NAME (FILE | --zeros SIZE): create, fill, publish one segment.
#include <charconv>
#include <chrono>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "cli.hpp"
#include "describe.hpp"
#include "put_tensors.hpp"
#include "onecopy/engine/names.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"
#include "progress.hpp"
#include "put_plan.hpp"

namespace onecopy::cli {
namespace {

struct put_args {
  std::string name;
  std::vector<std::string> files;
  std::string zeros;
  std::string dtype_text;
  std::string shape_text;
  std::string numa = "auto";  // as Python's put(numa="auto"): docs/how-it-works.md says why
  std::string pages = "auto";
  bool strict = false;
  bool replace = false;
  bool when_unused = false;
  bool json = false;
  unsigned threads = 0;
  put_plan_args plan;  // --gpus --cpus --budget --explain (put_plan.hpp)
};

std::vector<std::uint64_t> parse_shape(const std::string& text) {
  std::vector<std::uint64_t> shape;
  if (text.empty()) return shape;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string part = text.substr(pos, comma - pos);
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size())
      throw usage_error(fmt::format("bad --shape '{}': expected comma-separated sizes, e.g. 1024,768", text));
    shape.push_back(v);
    pos = comma + 1;
  }
  return shape;
}

// The layout of a raw FILE or --zeros SIZE, from --dtype/--shape when given.
layout raw_layout(const put_args& a, std::uint64_t bytes) {
  if (a.dtype_text.empty() && a.shape_text.empty()) return layout::bytes(bytes);
  const auto type = parse_dtype(a.dtype_text.empty() ? "u8" : a.dtype_text);
  if (!type) throw usage_error(fmt::format("unknown --dtype '{}' (e.g. f32, f16, bf16, i64, u8)", a.dtype_text));
  auto shape = a.shape_text.empty() ? std::vector<std::uint64_t>{bytes / dtype_size(*type)} : parse_shape(a.shape_text);
  const auto l = layout::array(*type, shape);
  if (l.data_size() != bytes)
    throw usage_error(fmt::format("--dtype {} --shape {} is {} bytes but the input has {}",
                                  dtype_name(*type), a.shape_text.empty() ? "(derived)" : a.shape_text,
                                  l.data_size(), bytes));
  return l;
}

create_options options_of(const put_args& a, const console& out) {
  create_options opts;
  opts.replace = a.replace;
  opts.remove_when_unused = a.when_unused;
  opts.threads = a.threads;
  opts.on_fill = terminal_progress(out, "put " + a.name);
  return opts;
}

int run_put(const put_args& a, const console& out) {
  using clock = std::chrono::steady_clock;
  if (a.files.empty() == a.zeros.empty())
    throw usage_error("give either FILE or --zeros SIZE (exactly one)");
  validate_name(a.name);  // before the planner prints a plan for a name that cannot be made
  if (is_tensor_input(a.files)) {  // .safetensors, .npy, model directories: put_tensors.cpp
    if (!a.dtype_text.empty() || !a.shape_text.empty())
      throw usage_error("--dtype and --shape describe raw files; tensor files carry their own");
    // Placement is planned once the loader knows the bundle's size.
    std::optional<put_plan> planned;
    return put_tensor_files(a.name, a.files, options_of(a, out), a.json, out,
                            [&](std::uint64_t bytes, create_options& opts) {
                              planned = plan_put(a.name, a.numa, a.pages, a.strict, a.plan, bytes, opts, a.json);
                              return planned->create;
                            });
  }
  if (a.files.size() > 1) throw usage_error("several FILEs load together only as .safetensors or .npy files");
  const std::string file = a.files.empty() ? std::string() : a.files.front();
  std::uint64_t bytes = 0;
  if (!a.zeros.empty()) {
    bytes = parse_size(a.zeros);
  } else {
    const auto st = sys::lstat_if_exists(file);
    if (!st) throw os_error(ENOENT, fmt::format("input {}", file), file);
    bytes = st->size;
  }
  const layout l = raw_layout(a, bytes);
  create_options opts = options_of(a, out);
  const put_plan planned = plan_put(a.name, a.numa, a.pages, a.strict, a.plan, l.data_size(), opts, a.json);
  if (!planned.create) return 0;

  store s = open_store(out);
  const auto t0 = clock::now();
  draft d = s.create(a.name, l, opts);
  const auto t1 = clock::now();
  auto secs = [](auto a0, auto a1) { return std::chrono::duration<double>(a1 - a0).count(); };
  for (const auto& f : d.unpublished_files()) out.detail(fmt::format("draft {} in {}", f.string(), format_seconds(secs(t0, t1))));
  if (!file.empty()) d.read_from_file(file, 0, 0, bytes);  // --zeros: publish allocates zeros
  const auto t2 = clock::now();
  if (!file.empty()) out.detail(fmt::format("filled from {} in {} ({})", file, format_seconds(secs(t1, t2)), rate_text(bytes, secs(t1, t2))));
  const create_report report = d.report();
  segment seg = std::move(d).publish();
  const auto t3 = clock::now();
  out.detail(fmt::format("published {} in {} (checksum, seal, rename)", seg.path().string(), format_seconds(secs(t2, t3))));

  if (a.json) {
    auto j = segment_json(seg.info());
    j["name"] = seg.name();
    j["path"] = seg.path().string();
    j["fallbacks"] = report.fallbacks;
    j["warnings"] = report.warnings;
    if (planned.json) j["plan"] = *planned.json;
    if (!report.replicas.empty()) j["replicas"] = replicas_json(report);
    j["seconds"] = {{"create", secs(t0, t1)}, {"populate", report.populate_seconds},
                    {"fill", secs(t1, t2)}, {"publish", secs(t2, t3)}};
    print_json(j);
    return 0;
  }
  print_put_diagnostics(report, {}, out);
  fmt::print("put {}: {}, pages {}\n  path {}\n", seg.name(), format_bytes(seg.info().data_size),
             pages_text(seg.info()), seg.path().string());
  fmt::print("  placement {}, pages per node: {}\n", placement_text(seg.info()),
             histogram_text(seg.info().histogram));
  fmt::print("  checksum {}   create {} (populate {}), fill {}, publish {}\n",
             checksum_hex(seg.info().checksum), format_seconds(secs(t0, t1)),
             format_seconds(report.populate_seconds), format_seconds(secs(t1, t2)),
             format_seconds(secs(t2, t3)));
  for (const auto& line : replica_lines(report)) fmt::print("{}\n", line);
  return 0;
}

// The engine says that a name exists; the CLI says how to get past it, in its own spelling.
int run_put_with_hints(const put_args& a, const console& out) {
  try {
    return run_put(a, out);
  } catch (const os_error& e) {
    if (e.err() != EEXIST || a.replace) throw;
    std::string path;
    try {
      path = store::from_environment().path_of(a.name).string();
    } catch (const std::exception&) {
      throw e;  // gone again: the engine's message stands
    }
    throw os_error(EEXIST, fmt::format("create segment '{}': {} exists (pass --replace, or 'onecopy rm {}' "
                                       "first)", a.name, path, a.name));
  }
}

}  // namespace

void add_put(CLI::App& app, registry& r) {
  auto a = std::make_shared<put_args>();
  auto* sub = app.add_subcommand("put", "Create a segment from a file or zeros, publish it read-only");
  sub->add_option("NAME", a->name, "Segment name: 1-200 of A-Z a-z 0-9 . _ -, not starting with '.'")->required();
  sub->add_option("FILE", a->files, "Raw bytes to copy in; or .safetensors / .npy files, a model "
                 "directory or its *.safetensors.index.json: all into one bundle of tensors");
  sub->add_option("--zeros", a->zeros, "Create SIZE bytes of zeros instead of reading a file (e.g. 1GiB)");
  sub->add_option("--dtype", a->dtype_text, "Element type of the array: u8 i8 u16 i16 u32 i32 u64 i64 f16 bf16 f32 f64 bool");
  sub->add_option("--shape", a->shape_text, "Array shape, comma-separated (e.g. 1024,768)");
  sub->add_option("--numa", a->numa, "NUMA placement: auto (the planner decides from the topology and the "
                  "size), replicate[:N,M] (one file per node), bind:N[,M], interleave[:N,M], local (first touch)")
      ->capture_default_str();
  add_put_plan_options(sub, a->plan);
  sub->add_option("--pages", a->pages, "Page size: auto, 1g, 2m, thp, 4k")->capture_default_str();
  sub->add_flag("--strict", a->strict, "Fail instead of falling back to smaller pages");
  sub->add_flag("--replace", a->replace, "Atomically replace an existing segment of that name");
  sub->add_flag("--when-unused", a->when_unused, "Let 'onecopy gc' remove it once no process maps it");
  sub->add_option("--threads", a->threads, "Threads for populate, fill and checksum (default: all usable CPUs)");
  sub->add_flag("--json", a->json, "Print the result as JSON");
  r.add(sub, [a](const console& out) { return run_put_with_hints(*a, out); });
}

}  // namespace onecopy::cli
