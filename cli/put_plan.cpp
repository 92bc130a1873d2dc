// SPDX-License-Identifier: Apache-2.0
#include "put_plan.hpp"

#include <fmt/format.h>

#include "cli.hpp"
#include "describe.hpp"
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
  const bool planner = numa == "auto" || numa == "replicate" || numa.starts_with("replicate:") || numa == "local" ||
                       !a.gpus.empty() || !a.cpus.empty() || !a.budget.empty() || a.explain;
  if (!planner) {
    opts.where = placement::parse(numa);
    return {};
  }
  if (!a.gpus.empty() && !a.cpus.empty()) throw usage_error("give --gpus or --cpus, not both");
  const topology t = topology::live();
  plan_request r;
  r.size = bytes;
  if (!a.gpus.empty()) r.gpus = parse_gpu_list(t, a.gpus);
  if (!a.cpus.empty()) r.cpus = parse_cpu_list(t, a.cpus);
  const policy_spec spec = parse_plan_policy(numa == "none" ? "auto" : numa);
  r.policy = spec.policy;
  r.nodes = spec.nodes;
  r.pages = parse_page_kind(pages);
  if (!a.budget.empty()) r.budget = parse_size(a.budget);
  r.strict = strict;
  const placement_plan p = plan(t, r);

  put_plan out;
  out.json = plan_json(p, r);
  out.create = !a.explain;
  if (a.explain && json) print_json(*out.json);
  else if (a.explain) fmt::print("{}", plan_text(p, r, name));
  else if (!json) fmt::print("plan: {} (--explain says why)\n", p.summary());
  // The planner decides where; the engine still picks the pages from its own backings (each
  // fallback a reason), so --pages auto stays auto.
  switch (p.policy) {
    case plan_policy::bind: opts.where = placement::bind_to(p.copies.front().nodes); break;
    case plan_policy::interleave: opts.where = placement::interleave_over(p.copies.front().nodes); break;
    case plan_policy::replicate:
      opts.where = {};
      opts.replicate_on.clear();
      for (const auto& c : p.copies) opts.replicate_on.push_back(c.replica_node);
      break;
    case plan_policy::local:
    case plan_policy::automatic: opts.where = {}; break;
  }
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
