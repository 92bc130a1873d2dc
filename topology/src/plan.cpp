// SPDX-License-Identifier: Apache-2.0
// The placement planner: consumers → nodes → policy → pages, one reason line per decision.
#include "onecopy/topology/plan.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <map>
#include <set>

#include <fmt/format.h>

#include "onecopy/error.hpp"
#include "onecopy/sys/calls.hpp"
#include "onecopy/topology/pci.hpp"
#include "onecopy/units.hpp"

namespace onecopy {

namespace {

// A node holds a share in base pages when it fits 90% of its free memory: the rest is left
// for everything else running there.
constexpr std::uint64_t headroom_percent = 90;

std::string nodes_text(const std::vector<int>& nodes) {
  return fmt::format("node{} {}", nodes.size() == 1 ? "" : "s", sys::format_cpulist(nodes));
}

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

std::uint64_t huge_size(page_size k) { return k == page_size::huge_1g ? GiB : 2 * MiB; }

std::string page_label(page_size k, std::uint64_t base) {
  switch (k) {
    case page_size::huge_1g: return "1 GiB hugetlbfs pages";
    case page_size::huge_2m: return "2 MiB hugetlbfs pages";
    case page_size::thp: return "transparent huge pages";
    case page_size::base: return fmt::format("{} base pages", format_page_size(base));
    case page_size::automatic: break;  // never a plan's answer
  }
  return "";
}

class planner {
 public:
  planner(const topology& t, const plan_request& r) : t_(t), r_(r) {}

  placement_plan run() {
    if (r_.size == 0) throw usage_error("plan: the size is 0 bytes; plan at least one byte");
    for (const auto& n : t_.nodes())
      if (candidate(n)) candidates_.push_back(n.os_index);
    if (candidates_.empty()) {
      // No ordinary memory at all (e.g. an HBM-only machine): any allowed host memory will do.
      for (const auto& n : t_.nodes())
        if (n.allowed && n.kind != memory_kind::gpu_memory && n.memory > 0) candidates_.push_back(n.os_index);
      if (candidates_.empty())
        throw usage_error("plan: this topology has no allowed node with host memory to place a copy on");
      why(fmt::format("nodes: no ordinary DRAM node; using {} ({})", nodes_text(candidates_),
                      to_string(node(candidates_.front()).kind)));
    }
    out_.size = r_.size;
    out_.budget = r_.budget != 0 ? r_.budget : default_budget();
    out_.consumer_nodes = consumers();
    decide_policy();
    choose_pages();
    for (const auto& c : out_.copies)
      out_.total_bytes += round_up(c.bytes_per_node, out_.page_bytes) * std::max<std::size_t>(1, c.nodes.size());
    return std::move(out_);
  }

 private:
  const topology& t_;
  const plan_request& r_;
  placement_plan out_;
  std::vector<int> candidates_;  // nodes the planner may choose by itself
  std::string budget_note_ = "--budget";

  void why(std::string line) { out_.reasons.push_back(std::move(line)); }
  bool pages_asked() const { return r_.pages != page_size::automatic; }

  const numa_node& node(int os) const {
    const numa_node* n = t_.node(os);
    if (n == nullptr) throw usage_error(fmt::format("plan: NUMA node {} does not exist", os));
    return *n;
  }
  static bool candidate(const numa_node& n) {
    return n.allowed && n.kind == memory_kind::dram && n.memory > 0;
  }
  bool usable(int os) const { return std::find(candidates_.begin(), candidates_.end(), os) != candidates_.end(); }
  static std::uint64_t usable_base(const numa_node& n) { return n.free_base_memory() / 100 * headroom_percent; }
  static std::uint64_t pool_free_bytes(const numa_node& n, std::uint64_t page) {
    const page_pool* p = n.pool(page);
    return p != nullptr ? p->free_or_total() * page : 0;
  }
  // The largest share one node can take in one kind of page.
  static std::uint64_t capacity(const numa_node& n) {
    return std::max({usable_base(n), pool_free_bytes(n, 2 * MiB), pool_free_bytes(n, GiB)});
  }
  static bool holds(const numa_node& n, std::uint64_t bytes) {
    if (bytes <= usable_base(n)) return true;
    for (std::uint64_t page : {2 * MiB, GiB})
      if (round_up(bytes, page) <= pool_free_bytes(n, page)) return true;
    return false;
  }

  std::uint64_t default_budget() {
    std::uint64_t free = 0;
    for (int os : candidates_) {
      const auto& n = node(os);
      free += n.free_base_memory() + pool_free_bytes(n, 2 * MiB) + pool_free_bytes(n, GiB);
    }
    budget_note_ = fmt::format("half the free memory of {}", nodes_text(candidates_));
    return free / 2;
  }

  std::uint64_t dist(int a, int b) const {
    if (auto d = t_.distance(a, b)) return *d;
    return a == b ? 10 : 20;
  }
  // candidates sorted by distance from `from` (then OS index).
  std::vector<int> by_distance(int from, std::vector<int> nodes) const {
    std::stable_sort(nodes.begin(), nodes.end(), [&](int a, int b) {
      return std::pair(dist(from, a), a) < std::pair(dist(from, b), b);
    });
    return nodes;
  }

  // A node a consumer is local to but we may not use: the nearest candidate instead.
  int substitute(int os, const std::string& who) {
    const int near = by_distance(os, candidates_).front();
    const auto& n = node(os);
    const std::string why_not = !n.allowed ? "is not allowed to this process (cpuset/cgroup)"
                                           : fmt::format("is {} memory", to_string(n.kind));
    why(fmt::format("consumers: {}'s local node {} {}: using the nearest usable node {} (distance {})",
                    who, os, why_not, near, dist(os, near)));
    return near;
  }

  std::vector<int> consumers() {
    std::set<int> nodes;
    if (!r_.gpus.empty()) {
      if (t_.gpus().empty()) throw usage_error("plan: --gpus given but this topology has no GPUs");
      std::map<std::vector<int>, std::vector<int>> gpus_by_nodes;
      for (int idx : r_.gpus) {
        if (idx < 0 || static_cast<std::size_t>(idx) >= t_.gpus().size())
          throw usage_error(fmt::format("plan: GPU {} does not exist (this topology has GPUs 0-{})", idx,
                                        t_.gpus().size() - 1));
        const auto& g = t_.gpus()[static_cast<std::size_t>(idx)];
        const std::string who = fmt::format("GPU {} ({})", idx, g.bus_id);
        std::vector<int> local;
        for (int os : g.local_nodes) local.push_back(usable(os) ? os : substitute(os, who));
        if (local.empty()) {
          local = candidates_;
          why(fmt::format("consumers: {} has no local NUMA node in this topology: every node counts as local", who));
        }
        std::sort(local.begin(), local.end());
        local.erase(std::unique(local.begin(), local.end()), local.end());
        gpus_by_nodes[local].push_back(idx);
        nodes.insert(local.begin(), local.end());
      }
      std::string line;
      for (const auto& [local, gpus] : gpus_by_nodes)
        line += fmt::format("{}GPU{} {} → {}", line.empty() ? "" : "; ", gpus.size() > 1 ? "s" : "",
                            sys::format_cpulist(gpus), nodes_text(local));
      why("consumers: " + line);
    } else if (!r_.cpus.empty()) {
      std::map<int, std::vector<int>> cpus_by_node;
      for (int cpu : r_.cpus) {
        const numa_node* home = t_.home_node_of_cpu(cpu);
        if (home == nullptr)
          throw usage_error(fmt::format("plan: CPU {} does not exist in this topology (CPUs {})", cpu,
                                        sys::format_cpulist(t_.info().cpus)));
        cpus_by_node[home->os_index].push_back(cpu);
      }
      std::string line;
      for (const auto& [os, cpus] : cpus_by_node) {
        const int use = usable(os) ? os : substitute(os, fmt::format("CPU {}", sys::format_cpulist(cpus)));
        nodes.insert(use);
        line += fmt::format("{}CPU{} {} → node {}", line.empty() ? "" : "; ", cpus.size() > 1 ? "s" : "",
                            sys::format_cpulist(cpus), os);
      }
      why("consumers: " + line);
    } else {
      for (int os : candidates_)
        if (!node(os).cpus.empty()) nodes.insert(os);
      if (nodes.empty()) nodes.insert(candidates_.begin(), candidates_.end());
      why(fmt::format("consumers: all CPUs → {} (every allowed node with CPUs)",
                      nodes_text({nodes.begin(), nodes.end()})));
      explain_skipped();
    }
    return {nodes.begin(), nodes.end()};
  }

  // Nodes that exist but get no copy on their own: say so once.
  void explain_skipped() {
    std::map<std::string, std::vector<int>> skipped;
    for (const auto& n : t_.nodes()) {
      if (usable(n.os_index)) {
        if (n.cpus.empty()) skipped["no CPUs"].push_back(n.os_index);
        continue;
      }
      if (!n.allowed) skipped["not allowed to this process"].push_back(n.os_index);
      else if (n.kind == memory_kind::gpu_memory) skipped["GPU memory: never a host copy"].push_back(n.os_index);
      else if (n.kind != memory_kind::dram) skipped[fmt::format("{}: only on explicit bind", to_string(n.kind))].push_back(n.os_index);
      else skipped["no memory"].push_back(n.os_index);
    }
    if (skipped.empty()) return;
    std::string line;
    for (const auto& [what, nodes] : skipped)
      line += fmt::format("{}{} ({})", line.empty() ? "" : "; ", nodes_text(nodes), what);
    why("skipped: " + line);
  }

  // Nodes named on the command line: they must exist and may hold a host copy.
  std::vector<int> checked(std::vector<int> nodes) {
    std::sort(nodes.begin(), nodes.end());
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    for (int os : nodes) {
      const auto& n = node(os);
      if (!n.allowed)
        throw usage_error(fmt::format("plan: NUMA node {} is not allowed to this process (cpuset/cgroup)", os));
      if (n.kind == memory_kind::gpu_memory)
        throw usage_error(fmt::format("plan: NUMA node {} is the memory of GPU {}; host copies never go there",
                                      os, n.gpu_bus_id.empty() ? "?" : n.gpu_bus_id));
      if (n.memory == 0) throw usage_error(fmt::format("plan: NUMA node {} has no memory", os));
      if (n.kind != memory_kind::dram)
        why(fmt::format("nodes: node {} is {} ({}), used because it was asked for", os, to_string(n.kind),
                        format_bytes(n.memory)));
    }
    return nodes;
  }

  [[noreturn]] void too_big(const std::vector<int>& nodes) {
    std::uint64_t cap = 0;
    for (int os : nodes) cap += capacity(node(os));
    throw out_of_memory_error(ENOMEM, fmt::format("plan {}: does not fit: {} can hold {} ({}% of free "
                                                  "memory, or free huge pages)", format_bytes(r_.size),
                                                  nodes_text(nodes), format_bytes(cap), headroom_percent));
  }

  void bind_one(int os) { out_.policy = numa_policy::bind; out_.copies = {{numa_policy::bind, {os}, r_.size, -1}}; }
  void interleave(const std::vector<int>& nodes) {
    out_.policy = numa_policy::interleave;
    out_.copies = {{numa_policy::interleave, nodes, ceil_div(r_.size, nodes.size()), -1}};
  }
  void replicate(const std::vector<int>& nodes) {
    out_.policy = numa_policy::replicate;
    out_.copies.clear();
    for (int os : nodes) out_.copies.push_back({numa_policy::bind, {os}, r_.size, os});
  }
  bool all_hold(const std::vector<int>& nodes, std::uint64_t bytes) const {
    return std::all_of(nodes.begin(), nodes.end(), [&](int os) { return holds(node(os), bytes); });
  }
  // The first node of nodes that cannot hold bytes, as a reason.
  std::string short_node(const std::vector<int>& nodes, std::uint64_t bytes) const {
    for (int os : nodes)
      if (!holds(node(os), bytes))
        return fmt::format("node {} can hold {}, a copy needs {}", os, format_bytes(capacity(node(os))),
                           format_bytes(bytes));
    return {};
  }

  // One node is not enough: interleave over it and its nearest neighbours until the shares fit.
  void spill_from(int home) {
    const auto order = by_distance(home, candidates_);
    for (std::size_t m = 2; m <= order.size(); ++m) {
      std::vector<int> set(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(m));
      const std::uint64_t share = ceil_div(r_.size, m);
      if (!all_hold(set, share)) continue;
      std::sort(set.begin(), set.end());
      why(fmt::format("placement: {}; interleave over node {} and its {} nearest ({}), {} each",
                      short_node({home}, r_.size), home, m - 1, nodes_text(set), format_bytes(share)));
      interleave(set);
      return;
    }
    too_big(candidates_);
  }

  void interleave_or_spill(const std::vector<int>& nodes, const std::string& lead) {
    const std::uint64_t share = ceil_div(r_.size, nodes.size());
    if (all_hold(nodes, share)) {
      why(fmt::format("placement: {}interleave over {}: {} each", lead, nodes_text(nodes), format_bytes(share)));
      interleave(nodes);
      return;
    }
    const std::uint64_t wide = ceil_div(r_.size, candidates_.size());
    if (candidates_.size() > nodes.size() && all_hold(candidates_, wide)) {
      why(fmt::format("placement: {}{} cannot take {} each; interleave over every usable node ({}): {} each",
                      lead, nodes_text(nodes), format_bytes(share), nodes_text(candidates_), format_bytes(wide)));
      interleave(candidates_);
      return;
    }
    too_big(candidates_);
  }

  void decide_auto() {
    const auto& c = out_.consumer_nodes;
    if (c.size() == 1) {
      if (holds(node(c[0]), r_.size)) {
        why(fmt::format("placement: bind to node {}: the consumers' only node; {} fits (it can hold {})",
                        c[0], format_bytes(r_.size), format_bytes(capacity(node(c[0])))));
        bind_one(c[0]);
      } else {
        spill_from(c[0]);
      }
      return;
    }
    const std::uint64_t total = r_.size * c.size();
    if (all_hold(c, r_.size) && total <= out_.budget) {
      why(fmt::format("placement: replicate, one copy per consumer node ({}): {} × {} = {} fits the budget "
                      "of {} ({})", nodes_text(c), c.size(), format_bytes(r_.size), format_bytes(total),
                      format_bytes(out_.budget), budget_note_));
      replicate(c);
      return;
    }
    const std::string no_replica = total > out_.budget
        ? fmt::format("replicas would need {} × {} = {}, over the budget of {} ({}); ", c.size(),
                      format_bytes(r_.size), format_bytes(total), format_bytes(out_.budget), budget_note_)
        : fmt::format("no replicas: {}; ", short_node(c, r_.size));
    interleave_or_spill(c, no_replica);
  }

  void decide_policy() {
    switch (r_.where.policy) {
      case numa_policy::automatic: decide_auto(); return;
      case numa_policy::local: {
        std::uint64_t cap = 0;
        for (int os : candidates_) cap += capacity(node(os));
        if (cap < r_.size) too_big(candidates_);
        why("placement: local (asked for): no NUMA policy; pages go to the node of the process that "
            "populates them (first touch)");
        out_.policy = numa_policy::local;
        out_.copies = {{numa_policy::local, {}, r_.size, -1}};
        return;
      }
      case numa_policy::bind: {
        const auto nodes = r_.where.nodes.empty() ? out_.consumer_nodes : checked(r_.where.nodes);
        if (nodes.size() == 1) {
          if (!holds(node(nodes[0]), r_.size)) too_big(nodes);
          why(fmt::format("placement: bind to node {} (asked for)", nodes[0]));
          bind_one(nodes[0]);
          return;
        }
        std::uint64_t cap = 0;
        for (int os : nodes) cap += capacity(node(os));
        if (cap < r_.size) too_big(nodes);
        why(fmt::format("placement: bind to {} (asked for): the kernel puts each page on one of them, "
                        "nearest to the populating thread first", nodes_text(nodes)));
        out_.policy = numa_policy::bind;
        out_.copies = {{numa_policy::bind, nodes, ceil_div(r_.size, nodes.size()), -1}};
        return;
      }
      case numa_policy::interleave: {
        const auto nodes = !r_.where.nodes.empty() ? checked(r_.where.nodes)
                           : out_.consumer_nodes.size() > 1 ? out_.consumer_nodes : candidates_;
        const std::uint64_t share = ceil_div(r_.size, nodes.size());
        if (!all_hold(nodes, share)) too_big(nodes);
        why(fmt::format("placement: interleave over {} (asked for): {} each", nodes_text(nodes), format_bytes(share)));
        interleave(nodes);
        return;
      }
      case numa_policy::replicate: {
        const auto nodes = r_.where.nodes.empty() ? out_.consumer_nodes : checked(r_.where.nodes);
        const std::uint64_t total = r_.size * nodes.size();
        std::string problem;
        if (!all_hold(nodes, r_.size)) problem = short_node(nodes, r_.size);
        else if (total > out_.budget)
          problem = fmt::format("{} copies need {}, over the budget of {} ({})", nodes.size(),
                                format_bytes(total), format_bytes(out_.budget), budget_note_);
        if (problem.empty()) {
          why(fmt::format("placement: replicate on {} (asked for): {} file{} NAME@nodeN, {} in all",
                          nodes_text(nodes), nodes.size(), nodes.size() > 1 ? "s" : "", format_bytes(total)));
          replicate(nodes);
          return;
        }
        if (r_.strict) throw fallback_error(fmt::format("plan: replicate (strict): {}", problem));
        interleave_or_spill(nodes, fmt::format("fallback from replicate: {}; ", problem));
        return;
      }
    }
  }

  // Why a page kind cannot back every copy; "" when it can.
  std::string unavailable(page_size k) const {
    const bool live = t_.source() == topology_source::live;
    if (k == page_size::huge_1g || k == page_size::huge_2m) {
      const std::uint64_t page = huge_size(k);
      const std::uint64_t file = round_up(r_.size, page);
      if (!pages_asked() && file - r_.size > r_.size / 8 + 4096)
        return fmt::format("would waste {} rounding {} up to whole pages", format_bytes(file - r_.size),
                           format_bytes(r_.size));
      for (const auto& c : out_.copies) {
        if (c.policy == numa_policy::local) {
          std::uint64_t free = 0;
          for (int os : candidates_)
            if (const page_pool* p = node(os).pool(page)) free += p->free_or_total();
          if (free < file / page)
            return fmt::format("the nodes have {} free {} pages, need {}", free, format_page_size(page), file / page);
          continue;
        }
        for (int os : c.nodes) {
          const page_pool* p = node(os).pool(page);
          const std::uint64_t need = ceil_div(c.bytes_per_node, page);
          if (p == nullptr || p->total == 0)
            return fmt::format("node {} has no {} huge pages reserved", os, format_page_size(page));
          if (p->free_or_total() < need)
            return fmt::format("node {} has {} free {} pages, need {}", os, p->free_or_total(),
                               format_page_size(page), need);
        }
      }
      if (live && std::none_of(t_.info().mounts.begin(), t_.info().mounts.end(),
                               [&](const hugepage_mount& m) { return !m.thp && m.page_size == page; }))
        return fmt::format("no hugetlbfs mounted with pagesize={} ('onecopy setup' mounts one)",
                           format_page_size(page));
      return {};
    }
    if (k == page_size::thp) {
      if (r_.size < 2 * MiB) return "smaller than one 2 MiB huge page";
      if (live && std::none_of(t_.info().mounts.begin(), t_.info().mounts.end(),
                               [](const hugepage_mount& m) { return m.thp; }))
        return "no tmpfs mounted huge=within_size|always ('onecopy setup' mounts one)";
    }
    for (const auto& c : out_.copies) {
      if (c.policy == numa_policy::local) continue;  // checked when the policy was chosen
      for (int os : c.nodes)
        if (c.bytes_per_node > usable_base(node(os)))
          return fmt::format("node {} has {} of free memory outside its huge-page pools, a copy needs {} "
                             "there (at most {}% of free memory)", os, format_bytes(node(os).free_base_memory()),
                             format_bytes(c.bytes_per_node), headroom_percent);
    }
    return {};
  }

  std::uint64_t base_page() const {
    const auto& c = out_.copies.front();
    return node(c.nodes.empty() ? candidates_.front() : c.nodes.front()).base_page_size;
  }

  void choose_pages() {
    constexpr page_size order[] = {page_size::huge_1g, page_size::huge_2m, page_size::thp, page_size::base};
    // automatic starts at the largest; an asked size starts at itself and falls back from there.
    const auto* asked = std::find(std::begin(order), std::end(order), r_.pages);
    const std::size_t first = asked == std::end(order) ? 0 : static_cast<std::size_t>(asked - std::begin(order));
    const std::uint64_t base = base_page();
    for (std::size_t i = first; i < std::size(order); ++i) {
      const page_size k = order[i];
      const std::string problem = unavailable(k);
      if (problem.empty()) {
        out_.pages = k;
        out_.page_bytes = k == page_size::base ? base : k == page_size::thp ? 2 * MiB : huge_size(k);
        std::string note;
        if (k == page_size::huge_1g || k == page_size::huge_2m) {
          const auto& c = out_.copies.front();
          std::vector<int> nodes;
          for (const auto& copy : out_.copies) nodes.insert(nodes.end(), copy.nodes.begin(), copy.nodes.end());
          note = c.policy == numa_policy::local
                     ? fmt::format(": {} pages from the pools", ceil_div(r_.size, huge_size(k)))
                     : fmt::format(": {} pages from the pool of {}{}", ceil_div(c.bytes_per_node, huge_size(k)),
                                   nodes.size() > 1 ? "each of " : "", nodes_text(nodes));
          if (t_.source() != topology_source::live) note += " (pool sizes recorded, free pages assumed)";
        }
        if (k == page_size::thp && t_.source() != topology_source::live)
          note = " (assumed available: they need a tmpfs mounted huge=within_size, see 'onecopy setup')";
        why(fmt::format("pages: {}{}{}", page_label(k, base), pages_asked() && k == r_.pages ? " (asked for)" : "", note));
        return;
      }
      if (r_.strict && pages_asked())
        throw fallback_error(fmt::format("plan: {} (strict): {}", page_label(k, base), problem));
      why(fmt::format("pages: not {}: {}", page_label(k, base), problem));
    }
    // Only pools could hold it, and none of them fits every copy.
    std::vector<int> nodes;
    for (const auto& c : out_.copies) nodes.insert(nodes.end(), c.nodes.begin(), c.nodes.end());
    too_big(nodes.empty() ? candidates_ : nodes);
  }
};

std::string lower(std::string_view text) {
  std::string t;
  for (char c : text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

}  // namespace

std::string placement_plan::summary() const {
  std::string where;
  switch (policy) {
    case numa_policy::replicate: {
      std::vector<int> nodes;
      for (const auto& c : copies) nodes.push_back(c.replica_node);
      where = fmt::format("replicate on {} ({} cop{})", nodes_text(nodes), copies.size(),
                          copies.size() == 1 ? "y" : "ies");
      break;
    }
    case numa_policy::local: where = "local (no NUMA policy)"; break;
    case numa_policy::interleave: where = "interleave over " + nodes_text(copies.front().nodes); break;
    default: where = "bind to " + (copies.empty() ? std::string("?") : nodes_text(copies.front().nodes));
  }
  return fmt::format("{}, {} pages, {} in all", where,
                     pages == page_size::thp ? "THP (2 MiB)" : format_page_size(page_bytes), format_bytes(total_bytes));
}

placement_plan plan(const topology& t, const plan_request& request) { return planner(t, request).run(); }

std::vector<int> parse_gpu_list(const topology& t, std::string_view text) {
  const int count = static_cast<int>(t.gpus().size());
  std::vector<int> out;
  if (lower(text) == "all") {
    if (count == 0) throw usage_error("--gpus all: this topology has no GPUs");
    for (int i = 0; i < count; ++i) out.push_back(i);
    return out;
  }
  if (text.find(':') != std::string_view::npos) {  // PCI bus ids
    std::size_t pos = 0;
    while (pos <= text.size()) {
      auto comma = text.find(',', pos);
      if (comma == std::string_view::npos) comma = text.size();
      const auto id = text.substr(pos, comma - pos);
      const gpu_device* g = find_gpu_by_bus_id(t, id);
      if (g == nullptr) throw usage_error(fmt::format("--gpus: no GPU at PCI bus id {} in this topology", id));
      out.push_back(g->index);
      pos = comma + 1;
    }
  } else {
    try {
      out = sys::parse_cpulist(text);
    } catch (const usage_error&) {
      throw usage_error(fmt::format("bad --gpus '{}': use all, GPU indexes (0,1 or 0-3) or PCI bus ids", text));
    }
    for (int i : out)
      if (i >= count)
        throw usage_error(count == 0 ? fmt::format("--gpus {}: this topology has no GPUs", text)
                                     : fmt::format("--gpus {}: GPU {} does not exist (GPUs 0-{})", text, i, count - 1));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.empty()) throw usage_error(fmt::format("bad --gpus '{}': no GPU named", text));
  return out;
}

std::vector<int> parse_cpu_list(const topology& t, std::string_view text) {
  if (lower(text) == "all") return t.info().allowed_cpus;
  std::vector<int> cpus;
  try {
    cpus = sys::parse_cpulist(text);
  } catch (const usage_error&) {
    throw usage_error(fmt::format("bad --cpus '{}': use all or a CPU list like 0-3,8", text));
  }
  if (cpus.empty()) throw usage_error(fmt::format("bad --cpus '{}': no CPU named", text));
  for (int c : cpus)
    if (t.home_node_of_cpu(c) == nullptr)
      throw usage_error(fmt::format("--cpus {}: CPU {} does not exist in this topology (CPUs {})", text, c,
                                    sys::format_cpulist(t.info().cpus)));
  return cpus;
}

}  // namespace onecopy
