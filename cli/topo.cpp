// SPDX-License-Identifier: Apache-2.0
// onecopy topo: NUMA nodes, huge pages, GPUs and distances of this host (or of an hwloc XML
// file), the onecopy segments resident on each node, and placement plans with their reasons.
#include <fmt/format.h>

#include "cli.hpp"
#include "onecopy/kernels/gpu.hpp"
#include "onecopy/topology/pci.hpp"
#include "onecopy/engine/store.hpp"
#include "onecopy/error.hpp"
#include "onecopy/topology/plan.hpp"
#include "onecopy/topology/topology.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"
#include "text_table.hpp"
#include "topo_view.hpp"

namespace onecopy::cli {
namespace {

struct topo_args {
  std::string input;
  std::string synthetic;
  bool json = false;
  bool summary = false;
  std::string plan_size;
  std::string gpus;
  std::string cpus;
  std::string policy = "auto";
  std::string pages = "auto";
  std::string budget;
  std::string name = "NAME";
  bool strict = false;
};

// The store's segments, split per node by the histograms recorded at publish.
std::vector<resident_segment> resident(const std::vector<segment_entry>& entries) {
  std::vector<resident_segment> out;
  for (const auto& e : entries)
    for (const auto& h : e.info.histogram) out.push_back({e.name, h.node, h.pages * e.info.page_size});
  return out;
}

// What CUDA says about this host's GPUs, each tied to the topology's PCI entry (live only:
// an XML file is another machine, so the CUDA runtime of this one says nothing about it).
std::string cuda_text(const topology& t) {
  const auto& probe = gpu::probe();
  std::string out = "CUDA\n";
  for (const auto& line : gpu::describe(probe)) out += wrap_lines(line, "  ", "    ");
  for (const auto& d : probe.devices) {
    if (const gpu_device* g = find_gpu_by_bus_id(t, d.pci_bus_id))
      out += fmt::format("  cuda device {} is GPU {} above ({}), host node{} {}\n", d.ordinal, g->index, d.pci_bus_id,
                         g->local_nodes.size() == 1 ? "" : "s", sys::format_cpulist(g->local_nodes));
  }
  return out;
}

int run_topo(const topo_args& a, const console& out) {
  if (!a.input.empty() && !a.synthetic.empty()) throw usage_error("give --input or --synthetic, not both");
  if (a.summary && (a.json || !a.plan_size.empty())) throw usage_error("--summary is a text overview: no --json or --plan with it");
  const topology t = !a.input.empty()       ? topology::from_xml(a.input)
                     : !a.synthetic.empty() ? topology::from_synthetic(a.synthetic)
                                            : topology::live();
  out.detail(fmt::format("topology: {}", !a.input.empty()       ? "hwloc XML " + a.input
                                         : !a.synthetic.empty() ? "synthetic \"" + a.synthetic + "\""
                                                                : std::string("this host (hwloc and /sys)")));

  std::optional<plan_request> request;
  if (!a.plan_size.empty()) {
    plan_request r;
    r.size = parse_size(a.plan_size);
    if (!a.gpus.empty()) r.gpus = parse_gpu_list(t, a.gpus);
    if (!a.cpus.empty()) r.cpus = parse_cpu_list(t, a.cpus);
    if (!r.gpus.empty() && !r.cpus.empty()) throw usage_error("give --gpus or --cpus, not both");
    r.where = placement::parse(a.policy);
    r.pages = parse_page_size(a.pages);
    if (!a.budget.empty()) r.budget = parse_size(a.budget);
    r.strict = a.strict;
    request = r;
  } else if (!a.gpus.empty() || !a.cpus.empty() || a.policy != "auto" || a.pages != "auto" || !a.budget.empty() || a.strict) {
    throw usage_error("--gpus, --cpus, --policy, --pages, --budget and --strict describe a plan: add --plan SIZE");
  }

  // Segments are this host's: shown for the live topology only.
  std::vector<resident_segment> segments;
  std::string store_dir;
  std::string store_problem;
  if (t.source() == topology_source::live) {
    try {
      const store s = open_store(out);
      segments = resident(s.list());
      for (const auto& b : s.backings()) store_dir += (store_dir.empty() ? "" : ", ") + b.dir.string();
    } catch (const std::exception& e) {
      store_problem = e.what();
    }
  }

  if (a.summary) {
    fmt::print("{}", summary_text(t, segments, store_problem.empty() ? store_dir : "unavailable: " + store_problem));
    if (t.source() == topology_source::live) fmt::print("{}", wrap_lines(gpu::describe(gpu::probe()).front(), "  ", "    "));
    return 0;
  }
  std::optional<placement_plan> p;
  if (request) p = plan(t, *request);
  if (a.json) {
    auto j = topology_json(t);
    j["segments"] = t.source() == topology_source::live && store_problem.empty() ? segments_json(segments) : nlohmann::json(nullptr);
    j["plan"] = p ? plan_json(*p, *request) : nlohmann::json(nullptr);
    if (t.source() == topology_source::live) j["cuda"] = gpu::probe();
    print_json(j);
    return 0;
  }
  fmt::print("{}", topology_text(t));
  if (t.source() == topology_source::live) fmt::print("\n{}", cuda_text(t));
  if (t.source() == topology_source::live)
    fmt::print("\n{}", store_problem.empty() ? segments_text(segments, store_dir)
                                             : fmt::format("SEGMENTS: store unavailable: {}\n", store_problem));
  if (p) fmt::print("\n{}", plan_text(*p, *request, a.name));
  return 0;
}

}  // namespace

void add_topo(CLI::App& app, registry& r) {
  auto a = std::make_shared<topo_args>();
  auto* sub = app.add_subcommand("topo", "Show NUMA nodes, huge pages, GPUs, distances and where segments are; plan placement");
  sub->add_option("--input", a->input, "Read the topology from an hwloc XML file instead of this host")->option_text("FILE.xml");
  sub->add_option("--synthetic", a->synthetic, "Use an hwloc synthetic topology, e.g. \"pack:2 [numa(memory=64GiB)] core:8 pu:2\"");
  sub->add_flag("--json", a->json, "Print JSON (schema onecopy.topo/1, see README)");
  sub->add_flag("--summary", a->summary, "A short overview of this host (5-10 lines)");
  auto* g = sub->add_option_group("Plan", "Plan where an array of SIZE bytes should go, and say why");
  g->add_option("--plan", a->plan_size, "Size of the array, e.g. 64GiB")->option_text("SIZE");
  g->add_option("--gpus", a->gpus, "Consumers: GPUs (all, 0,1, 0-3 or PCI bus ids)");
  g->add_option("--cpus", a->cpus, "Consumers: CPUs (all or a list like 0-15); default: all CPUs");
  g->add_option("--policy", a->policy, "auto, bind[:N,M], interleave[:N-M], replicate[:N,M] or local")->capture_default_str();
  g->add_option("--pages", a->pages, "auto, 1g, 2m, thp or 4k")->capture_default_str();
  g->add_option("--budget", a->budget, "Host memory all copies may use (default: half the free memory)");
  g->add_flag("--strict", a->strict, "Fail instead of falling back to smaller pages or fewer copies");
  g->add_option("--name", a->name, "Segment name shown in replica file names")->capture_default_str();
  r.add(sub, [a](const console& out) { return run_topo(*a, out); });
}

}  // namespace onecopy::cli
