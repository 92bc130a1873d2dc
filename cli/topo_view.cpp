// SPDX-License-Identifier: Apache-2.0
#include "topo_view.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "onecopy/sys/calls.hpp"
#include "onecopy/units.hpp"
#include "text_table.hpp"

namespace onecopy::cli {
namespace {

using sys::format_cpulist;

std::string kind_text(const numa_node& n) {
  switch (n.kind) {
    case memory_kind::dram: return "DRAM";
    case memory_kind::hbm: return "HBM";
    case memory_kind::mcdram: return "MCDRAM";
    case memory_kind::gpu_memory: return "GPU mem";
    case memory_kind::cxl: return "CXL";
    case memory_kind::nvm: return "NVM";
    case memory_kind::other: return n.subtype.empty() ? "other" : n.subtype;
  }
  return "?";
}

std::string plural(std::uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

const gpu_device* gpu_at(const topology& t, std::string_view bus_id) {
  for (const auto& g : t.gpus())
    if (g.bus_id == bus_id) return &g;
  return nullptr;
}

// The huge-page sizes onecopy uses (2 MiB, 1 GiB): a column each when any node has the pool.
std::vector<std::uint64_t> shown_pools(const topology& t) {
  std::vector<std::uint64_t> sizes;
  for (std::uint64_t size : {2 * MiB, GiB})
    for (const auto& n : t.nodes())
      if (n.pool(size) != nullptr && std::find(sizes.begin(), sizes.end(), size) == sizes.end()) sizes.push_back(size);
  return sizes;
}

std::string source_line(const topology& t) {
  const auto& i = t.info();
  std::string what;
  if (!i.model.empty()) what += i.model;
  if (!i.host.empty()) what += fmt::format("{}host {}", what.empty() ? "" : ", ", i.host);
  if (!i.architecture.empty()) what += fmt::format("{}{}", what.empty() ? "" : ", ", i.architecture);
  switch (t.source()) {
    case topology_source::live:
      return fmt::format("this machine: {} · hwloc {}", what, i.hwloc_version);
    case topology_source::xml:
      return fmt::format("{}: hwloc XML{} of {} (not this machine)",
                         std::filesystem::path(i.origin).filename().string(),
                         i.hwloc_version.empty() ? "" : fmt::format(" from hwloc {}", i.hwloc_version),
                         what.empty() ? "an unnamed machine" : what);
    case topology_source::synthetic:
      return fmt::format("synthetic topology \"{}\"", i.origin);
  }
  return {};
}

std::string counts_line(const topology& t) {
  const auto& i = t.info();
  std::string cpus = plural(i.cpus.size(), "CPU", "CPUs");
  if (i.allowed_cpus.size() != i.cpus.size()) cpus += fmt::format(" ({} allowed)", i.allowed_cpus.size());
  std::size_t gpus = 0, accels = 0;
  for (const auto& g : t.gpus()) (g.kind == device_kind::gpu ? gpus : accels)++;
  std::string devices = plural(gpus, "GPU", "GPUs");
  if (accels > 0) devices += " · " + plural(accels, "accelerator", "accelerators");
  return fmt::format("{} · {} · {} · {} · {} · {} · base pages {}", plural(static_cast<std::uint64_t>(i.packages), "package", "packages"),
                     plural(static_cast<std::uint64_t>(i.cores), "core", "cores"), cpus,
                     plural(t.nodes().size(), "NUMA node", "NUMA nodes"), format_bytes(t.total_memory()), devices,
                     format_page_size(t.nodes().empty() ? 4096 : t.nodes().front().base_page_size));
}

std::string node_cpus_text(const topology& t, const numa_node& n) {
  if (n.kind == memory_kind::gpu_memory) {
    const gpu_device* g = gpu_at(t, n.gpu_bus_id);
    return g != nullptr ? fmt::format("none (memory of GPU {})", g->index)
                        : fmt::format("none (GPU {})", n.gpu_bus_id.empty() ? "unknown" : n.gpu_bus_id);
  }
  if (n.cpus.empty()) {
    if (n.local_cpus.empty()) return "none";
    for (const auto& other : t.nodes())
      if (&other != &n && !other.cpus.empty() && other.local_cpus == n.local_cpus)
        return fmt::format("none (near node {}'s)", other.os_index);
    return fmt::format("none (near {})", format_cpulist(n.local_cpus));
  }
  return fmt::format("{} ({})", format_cpulist(n.cpus), n.cpus.size());
}

std::string pool_cell(const numa_node& n, std::uint64_t size) {
  const page_pool* p = n.pool(size);
  if (p == nullptr) return "-";
  if (p->total == 0) return "0";
  return fmt::format("{}/{}", p->free ? std::to_string(*p->free) : "?", p->total);
}

std::string nodes_table(const topology& t) {
  const auto pools = shown_pools(t);
  std::vector<std::string> headers = {"NODE", "KIND", "MEMORY", "FREE"};
  for (auto size : pools) headers.push_back(fmt::format("{} FREE/ALL", format_page_size(size)));
  headers.push_back("CPUS");
  std::vector<bool> right(headers.size(), false);
  right[0] = right[2] = right[3] = true;
  for (std::size_t k = 0; k < pools.size(); ++k) right[4 + k] = true;
  text_table table(headers, right);
  bool disallowed = false;
  std::set<std::uint64_t> other_pools;
  for (const auto& n : t.nodes()) {
    std::vector<std::string> row = {fmt::format("{}{}", n.os_index, n.allowed ? "" : "*"), kind_text(n),
                                    format_bytes(n.memory), n.free ? format_bytes(*n.free) : "?"};
    for (auto size : pools) row.push_back(pool_cell(n, size));
    row.push_back(node_cpus_text(t, n));
    table.add(std::move(row));
    disallowed |= !n.allowed;
    for (const auto& p : n.hugepages)
      if (p.page_size != 2 * MiB && p.page_size != GiB) other_pools.insert(p.page_size);
  }
  std::string out = "NUMA NODES\n" + table.render(text_width, "  ");
  if (disallowed)
    out += "  * not allowed to this process (cpuset/cgroup): shown, never used for placement\n";
  if (t.source() != topology_source::live)
    out += "  ? free memory and free huge pages are not recorded here; the planner assumes all free\n";
  if (pools.empty()) out += "  huge-page pools: none recorded\n";
  if (!other_pools.empty()) {
    std::string sizes;
    for (auto s : other_pools) sizes += (sizes.empty() ? "" : ", ") + format_page_size(s);
    out += fmt::format("  other huge-page pools (onecopy uses 2 MiB and 1 GiB): {}\n", sizes);
  }
  return out;
}

std::string distances_text(const topology& t) {
  const auto& d = t.info().distances;
  if (d.empty()) return "DISTANCES: not recorded\n";
  const auto& nodes = t.nodes();
  std::size_t w = 2;
  for (const auto& n : nodes) w = std::max(w, std::to_string(n.os_index).size());
  for (const auto& row : d)
    for (auto v : row) w = std::max(w, std::to_string(v).size());
  const std::size_t label = std::max<std::size_t>(4, w);
  if (label + 2 + (w + 1) * nodes.size() > text_width)
    return fmt::format("DISTANCES ({}): {}×{} matrix, too wide to show here (see --json)\n",
                       t.info().distances_name.empty() ? "unnamed" : t.info().distances_name, nodes.size(), nodes.size());
  std::string out = fmt::format("DISTANCES ({}; 10 = local)\n", t.info().distances_name.empty()
                                                                   ? "relative latency" : t.info().distances_name);
  out += fmt::format("  {:>{}}", "from", label);
  for (const auto& n : nodes) out += fmt::format(" {:>{}}", n.os_index, w);
  out += '\n';
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    out += fmt::format("  {:>{}}", nodes[i].os_index, label);
    for (std::size_t j = 0; j < nodes.size(); ++j)
      out += d[i][j] == 0 ? fmt::format(" {:>{}}", "-", w) : fmt::format(" {:>{}}", d[i][j], w);
    out += '\n';
  }
  return out;
}

std::string gpus_text(const topology& t) {
  if (t.gpus().empty()) return "GPUS: none found on PCI\n";
  text_table table({"GPU", "BUS ID", "NAME", "NODE", "LOCAL CPUS", "OS DEVICES"}, {true});
  for (const auto& g : t.gpus()) {
    std::string name = g.kind == device_kind::accelerator ? "accelerator: " + g.name : g.name;
    if (display_width(name) > 28) {
      std::string cut;
      for (char c : name) {
        if (display_width(cut) >= 27 && (static_cast<unsigned char>(c) & 0xC0) != 0x80) break;
        cut += c;
      }
      name = cut + "…";
    }
    std::string node = g.local_nodes.empty() ? "?" : format_cpulist(g.local_nodes);
    if (!g.memory_nodes.empty()) node += " +mem " + format_cpulist(g.memory_nodes);
    std::string devices;
    for (const auto& d : g.os_devices) devices += (devices.empty() ? "" : " ") + d;
    table.add({std::to_string(g.index), g.bus_id, name, node,
               g.local_cpus.empty() ? "?" : format_cpulist(g.local_cpus), devices.empty() ? "-" : devices});
  }
  return "GPUS (PCI bus order)\n" + table.render(text_width, "  ");
}

std::string mounts_text(const topology& t) {
  const auto& i = t.info();
  std::string hugetlbfs, thp;
  for (const auto& m : i.mounts) {
    if (m.thp) thp += (thp.empty() ? "" : ", ") + m.dir.string();
    else hugetlbfs += fmt::format("{}{} ({})", hugetlbfs.empty() ? "" : ", ", m.dir.string(), format_page_size(m.page_size));
  }
  return wrap_lines(fmt::format("THP for shmem: {} · hugetlbfs: {} · THP tmpfs: {}", i.thp_shmem_mode,
                                hugetlbfs.empty() ? "none" : hugetlbfs, thp.empty() ? "none" : thp),
                    "HUGE PAGES: ", "  ");
}

}  // namespace

std::string topology_text(const topology& t) {
  std::string out = wrap_lines(source_line(t), "", "  ");
  out += wrap_lines(counts_line(t), "", "  ");
  if (!t.info().cpu_model.empty()) out += wrap_lines(t.info().cpu_model, "", "  ");
  for (const auto& note : t.info().notes) out += wrap_lines(note, "note: ", "  ");
  out += '\n' + nodes_table(t) + '\n' + distances_text(t) + '\n' + gpus_text(t);
  if (t.source() == topology_source::live) out += '\n' + mounts_text(t);
  return out;
}

std::string segments_text(const std::vector<resident_segment>& segments, std::string_view store_dir) {
  if (segments.empty()) return wrap_lines(fmt::format("SEGMENTS: none in {}", store_dir), "", "  ");
  std::map<int, std::vector<const resident_segment*>> by_node;
  for (const auto& s : segments) by_node[s.node].push_back(&s);
  text_table table({"NODE", "COUNT", "BYTES", "SEGMENTS (bytes on the node)"}, {true, true, true});
  for (const auto& [node, list] : by_node) {
    std::uint64_t total = 0;
    std::string names;
    for (const auto* s : list) {
      total += s->bytes;
      names += fmt::format("{}{} ({})", names.empty() ? "" : ", ", s->name, format_bytes(s->bytes));
    }
    table.add({std::to_string(node), std::to_string(list.size()), format_bytes(total), names});
  }
  return wrap_lines(fmt::format("SEGMENTS BY NODE (pages recorded at publish) in {}", store_dir), "", "  ") +
         table.render(text_width, "  ");
}

std::string summary_text(const topology& t, const std::vector<resident_segment>& segments, std::string_view store_dir) {
  const auto& i = t.info();
  std::string out = wrap_lines(source_line(t), "", "  ") + wrap_lines(counts_line(t), "", "  ");
  for (const auto& n : t.nodes()) {
    std::string pools;
    for (const auto& p : n.hugepages)
      if ((p.page_size == 2 * MiB || p.page_size == GiB) && p.total > 0)
        pools += fmt::format("{}{} {}/{}", pools.empty() ? "" : ", ", format_page_size(p.page_size),
                             p.free ? std::to_string(*p.free) : "?", p.total);
    out += wrap_lines(fmt::format("node {}{}: {} {}{} · CPUs {} · huge pages {}", n.os_index,
                                  n.allowed ? "" : " (not allowed)", kind_text(n), format_bytes(n.memory),
                                  n.free ? fmt::format(" ({} free)", format_bytes(*n.free)) : "",
                                  n.cpus.empty() ? "none" : format_cpulist(n.cpus),
                                  pools.empty() ? "none reserved" : "free/all " + pools),
                      "  ", "    ");
  // Keep the overview short: four nodes, or three and a pointer to the full view.
    if (t.nodes().size() > 4 && &n == &t.nodes()[2]) {
      out += fmt::format("  … {} more nodes ('onecopy topo' lists them)\n", t.nodes().size() - 3);
      break;
    }
  }
  // GPUs grouped by model and local node: "GPUs 0-3 Tesla T4 → node 0 · GPUs 4-7 … → node 1".
  std::map<std::pair<std::vector<int>, std::string>, std::vector<int>> groups;
  for (const auto& g : t.gpus()) groups[{g.local_nodes, g.name}].push_back(g.index);
  std::vector<std::pair<int, std::string>> parts;
  for (const auto& [key, ids] : groups)
    parts.emplace_back(ids.front(), fmt::format("GPU{} {} {} → {}", ids.size() > 1 ? "s" : "", format_cpulist(ids),
                                                key.second, key.first.empty() ? "node ?" : "node " + format_cpulist(key.first)));
  std::sort(parts.begin(), parts.end());
  std::string gpus;
  for (const auto& [first, text] : parts) gpus += (gpus.empty() ? "" : " · ") + text;
  if (!gpus.empty()) out += wrap_lines(gpus, "  ", "    ");
  if (t.source() == topology_source::live) {
    bool hugetlbfs = false, thp = false;
    for (const auto& m : i.mounts) (m.thp ? thp : hugetlbfs) = true;
    out += wrap_lines(fmt::format("huge pages for segments: hugetlbfs {}, THP tmpfs {} (shmem THP: {}){}",
                                  hugetlbfs ? "mounted" : "not mounted", thp ? "mounted" : "not mounted",
                                  i.thp_shmem_mode, hugetlbfs || thp ? "" : " → 4 KiB pages; 'onecopy setup' (root) adds them"),
                      "  ", "    ");
    std::uint64_t bytes = 0;
    std::set<std::string> names;
    for (const auto& s : segments) {
      bytes += s.bytes;
      names.insert(s.name);
    }
    out += wrap_lines(fmt::format("store: {} resident, {}, in {}", plural(names.size(), "segment", "segments"),
                                  format_bytes(bytes), store_dir),
                      "  ", "    ");
  }
  return out;
}

std::string plan_text(const placement_plan& p, const plan_request& r, std::string_view name) {
  std::string consumers = !r.gpus.empty() ? fmt::format("GPU{} {}", r.gpus.size() > 1 ? "s" : "", format_cpulist(r.gpus))
                          : !r.cpus.empty() ? fmt::format("CPU{} {}", r.cpus.size() > 1 ? "s" : "", format_cpulist(r.cpus))
                                            : std::string("all CPUs");
  std::string out = wrap_lines(fmt::format("{} for {}, policy {}, pages {}{}{}", format_bytes(r.size), consumers,
                                           r.where.to_string(), to_string(r.pages), r.strict ? ", strict" : "",
                                           r.budget ? ", budget " + format_bytes(r.budget) : ""),
                               "PLAN ", "  ");
  out += wrap_lines(p.summary(), "  → ", "    ");
  text_table table({"FILE", "POLICY", "NODES", "BYTES PER NODE"});
  for (const auto& c : p.copies) {
    const std::string file = c.replica_node >= 0 ? fmt::format("{}@node{}", name, c.replica_node) : std::string(name);
    table.add({file, std::string(to_string(c.policy)), c.nodes.empty() ? "any" : format_cpulist(c.nodes),
               c.policy == numa_policy::local ? format_bytes(c.bytes_per_node) + " in all" : format_bytes(c.bytes_per_node)});
  }
  out += table.render(text_width, "    ");
  out += "  why:\n";
  for (const auto& reason : p.reasons) out += wrap_lines(reason, "    - ", "      ");
  return out;
}

nlohmann::json topology_json(const topology& t) {
  const auto& i = t.info();
  nlohmann::json nodes = nlohmann::json::array();
  for (std::size_t k = 0; k < t.nodes().size(); ++k) {
    const auto& n = t.nodes()[k];
    nlohmann::json pools = nlohmann::json::array();
    for (const auto& p : n.hugepages)
      pools.push_back({{"page_size", p.page_size}, {"total", p.total},
                       {"free", p.free ? nlohmann::json(*p.free) : nlohmann::json(nullptr)}});
    nodes.push_back({
        {"os_index", n.os_index},
        {"kind", to_string(n.kind)},
        {"subtype", n.subtype},
        {"allowed", n.allowed},
        {"cpus", format_cpulist(n.cpus)},
        {"local_cpus", format_cpulist(n.local_cpus)},
        {"memory_bytes", n.memory},
        {"free_bytes", n.free ? nlohmann::json(*n.free) : nlohmann::json(nullptr)},
        {"base_page_size", n.base_page_size},
        {"hugepages", pools},
        {"distances", i.distances.empty() ? nlohmann::json(nullptr) : nlohmann::json(i.distances[k])},
        {"gpu_bus_id", n.gpu_bus_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(n.gpu_bus_id)},
    });
  }
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& g : t.gpus())
    gpus.push_back({
        {"index", g.index},
        {"bus_id", g.bus_id},
        {"kind", to_string(g.kind)},
        {"vendor", g.vendor},
        {"vendor_id", fmt::format("0x{:04x}", g.vendor_id)},
        {"device_id", fmt::format("0x{:04x}", g.device_id)},
        {"class_id", fmt::format("0x{:04x}", g.class_id)},
        {"name", g.name},
        {"os_devices", g.os_devices},
        {"local_nodes", g.local_nodes},
        {"memory_nodes", g.memory_nodes},
        {"local_cpus", format_cpulist(g.local_cpus)},
        {"attached_to", g.attached_to},
    });
  nlohmann::json j = {
      {"schema", "onecopy.topo/1"},
      {"source", {{"kind", to_string(t.source())}, {"origin", i.origin}, {"hwloc_version", i.hwloc_version}}},
      {"machine",
       {{"host", i.host}, {"model", i.model}, {"architecture", i.architecture}, {"cpu_model", i.cpu_model},
        {"packages", i.packages}, {"cores", i.cores}, {"cpus", format_cpulist(i.cpus)},
        {"allowed_cpus", format_cpulist(i.allowed_cpus)}, {"memory_bytes", t.total_memory()}}},
      {"nodes", nodes},
      {"distances_name", i.distances.empty() ? nlohmann::json(nullptr) : nlohmann::json(i.distances_name)},
      {"gpus", gpus},
  };
  if (t.source() == topology_source::live) {
    nlohmann::json mounts = nlohmann::json::array();
    for (const auto& m : i.mounts)
      mounts.push_back({{"dir", m.dir.string()}, {"kind", m.thp ? "thp_tmpfs" : "hugetlbfs"}, {"page_size", m.page_size}});
    j["live"] = {{"thp_shmem_mode", i.thp_shmem_mode}, {"mounts", mounts}, {"current_node", i.current_node}};
  } else {
    j["live"] = nullptr;
  }
  return j;
}

nlohmann::json plan_json(const placement_plan& p, const plan_request& r) {
  nlohmann::json copies = nlohmann::json::array();
  for (const auto& c : p.copies)
    copies.push_back({{"policy", to_string(c.policy)},
                      {"nodes", c.nodes},
                      {"bytes_per_node", c.bytes_per_node},
                      {"replica_node", c.replica_node >= 0 ? nlohmann::json(c.replica_node) : nlohmann::json(nullptr)}});
  return {
      {"request",
       {{"size", r.size}, {"gpus", r.gpus}, {"cpus", format_cpulist(r.cpus)}, {"policy", to_string(r.where.policy)},
        {"nodes", r.where.nodes}, {"pages", to_string(r.pages)}, {"budget", r.budget}, {"strict", r.strict}}},
      {"policy", to_string(p.policy)},
      {"pages", to_string(p.pages)},
      {"page_size", p.page_bytes},
      {"consumer_nodes", p.consumer_nodes},
      {"copies", copies},
      {"total_bytes", p.total_bytes},
      {"budget", p.budget},
      {"summary", p.summary()},
      {"reasons", p.reasons},
  };
}

nlohmann::json segments_json(const std::vector<resident_segment>& segments) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : segments) out.push_back({{"name", s.name}, {"node", s.node}, {"bytes", s.bytes}});
  return out;
}

}  // namespace onecopy::cli
