// SPDX-License-Identifier: Apache-2.0
#include "put_plan.hpp"

#include <fmt/format.h>

#include "cli.hpp"
#include "describe.hpp"
#include "onecopy/engine/choose_placement.hpp"
#include "onecopy/error.hpp"
#include "onecopy/topology/plan.hpp"
#include "onecopy/topology/topology.hpp"
#include "onecopy/units.hpp"
#include "topo_view.hpp"

namespace onecopy::cli {

void add_put_plan_options(CLI::App* sub, put_plan_args& a) {
  sub->add_option("--gpus", a.gpus, "Readers are these GPUs (all, 0,1, 0-3 or PCI bus ids): place near them");
  sub->add_option("--cpus", a.cpus, "Readers run on these CPUs (all or a list like 0-15): place near them");
  sub->add_option("--budget", a.budget, "Host memory all replicas may use (default: half the free memory)");
  sub->add_flag("--explain", a.explain, "Print the placement plan and its reasons, create nothing");
}

put_plan plan_put(std::string_view name, std::string_view numa, std::string_view pages, bool strict,
                  const put_plan_args& a, std::uint64_t bytes, create_options& opts, bool json) {
  if (!a.gpus.empty() && !a.cpus.empty()) throw usage_error("give --gpus or --cpus, not both");
  plan_request r;
  r.size = bytes;
  r.where = placement::parse(numa);
  r.pages = parse_page_size(pages);
  r.strict = strict;
  if (!a.budget.empty()) r.budget = parse_size(a.budget);
  // GPU and CPU lists are checked against the topology: probe it once, only when they are given.
  std::optional<topology> probed;
  auto probe = [&] {
    if (!probed) probed = topology::live();
    return *probed;
  };
  if (!a.gpus.empty()) r.gpus = parse_gpu_list(probe(), a.gpus);
  if (!a.cpus.empty()) r.cpus = parse_cpu_list(probe(), a.cpus);
  const auto p = choose_placement(r, opts, probe, a.explain ? planning::always : planning::when_needed);

  put_plan out;
  out.create = !a.explain;
  if (!p) return out;
  out.json = plan_json(*p, r);
  if (a.explain && json) print_json(*out.json);
  else if (a.explain) fmt::print("{}", plan_text(*p, r, name));
  else if (!json) fmt::print("plan: {} (--explain says why)\n", p->summary());
  return out;
}

std::vector<std::string> replica_lines(const create_report& report) {
  std::vector<std::string> lines;
  for (const auto& r : report.replicas)
    lines.push_back(fmt::format("  replica {}: {} pages, placement {}, pages per node: {}", r.path.filename().string(),
                                format_page_size(r.page_size), r.where.to_string(), histogram_text(r.histogram)));
  return lines;
}

nlohmann::json replicas_json(const create_report& report) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : report.replicas) {
    nlohmann::json hist = nlohmann::json::array();
    for (const auto& h : r.histogram) hist.push_back({{"node", h.node}, {"pages", h.pages}});
    out.push_back({{"path", r.path.string()}, {"page_size", r.page_size}, {"placement", r.where.to_string()},
                   {"node_histogram", hist}, {"fallbacks", r.fallbacks}, {"warnings", r.warnings}});
  }
  return out;
}

}  // namespace onecopy::cli
